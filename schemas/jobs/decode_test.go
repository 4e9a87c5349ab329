package jobs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// decoded is a type that DecodeYAML fills in the tests: strings, integers and maps of both.
type decoded struct {
	Name   string            `json:"name"`
	Time   int               `json:"time"`
	Env    map[string]string `json:"env"`
	Counts map[string]int    `json:"counts"`
}

var decodeCases = []struct {
	name    string
	in      string
	want    decoded
	wantErr error  // nil for an error that is the YAML decoder's
	inMsg   string // part of the error message; "" for success
}{
	{
		name: "literals",
		in:   "name: 0001\ntime: 060000\nenv: {A: 0123, B: yes, 007: 0x1F, C: .inf}\ncounts: {010: 010, b: +0}\n",
		want: decoded{Name: "0001", Time: 60000, Env: map[string]string{"A": "0123", "B": "yes", "007": "0x1F", "C": ".inf"},
			Counts: map[string]int{"010": 10, "b": 0}},
	},
	{name: "json", in: `{"name":"0001","time":60000,"env":{"A":"0123"}}`, want: decoded{Name: "0001", Time: 60000, Env: map[string]string{"A": "0123"}}},
	{name: "empty", in: "# nothing\n"},
	{name: "hexadecimal refused", in: "name: a\ntime: 0x1F\n", wantErr: ErrWrongType, inMsg: "line 2: time: wrong type: 0x1F is not a whole number"},
	{name: "in a map refused", in: "counts:\n  a: 1\n  b: 1e3\n", wantErr: ErrWrongType, inMsg: "line 3: b: wrong type: 1e3 is not"},
	{name: "duplicate key as written", in: "# x\n\nname: 0001\n\nname: 0002\n", wantErr: ErrDuplicateField, inMsg: "line 5"},
	{name: "syntax error as written", in: "name: 0001\n\n\nenv: {A: 1\n", wantErr: ErrSyntax, inMsg: "line 4"},
	{name: "unknown field", in: "name: 0001\nnmae: x\n", inMsg: `unknown field "nmae"`},
	{name: "wrong type", in: "env: [a]\n", inMsg: "cannot unmarshal array"},
}

func TestDecodeYAML(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			var got decoded
			err := DecodeYAML([]byte(tc.in), &got)
			if tc.inMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.inMsg) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("DecodeYAML error = %v, want %v containing %q", err, tc.wantErr, tc.inMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeYAML: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeYAML = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCheckFieldsMap checks that the checker reads a map's keys as data: any key is allowed once,
// and every value has the map's element type.
func TestCheckFieldsMap(t *testing.T) {
	err := checkFields([]byte(`{"env":{"a":"x","b":1,"a":"y"},"counts":{"c":"x"}}`), shapeOf(reflect.TypeFor[decoded]()), "", false)
	for _, want := range []string{
		"env.a: duplicate field",
		"env.b: wrong type: want a string, got the number 1",
		`counts.c: wrong type: want an integer, got the string "x"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("checkFields error = %v, want it to hold %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "unknown field") {
		t.Errorf("checkFields error = %v, want no unknown field in a map", err)
	}
}

// FuzzDecodeYAML checks that no input makes DecodeYAML panic.
func FuzzDecodeYAML(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d decoded
		_ = DecodeYAML(data, &d)
	})
}
