package schedule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchema compiles JSONSchema.
func compileSchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema))
	if err != nil {
		tb.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "schedule.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		tb.Fatalf("add schema: %v", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		tb.Fatalf("compile schema: %v", err)
	}
	return sch
}

func TestJSONSchemaExamples(t *testing.T) {
	sch := compileSchema(t)
	for _, dir := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no examples in testdata/%s: %v", dir, err)
		}
		for _, f := range files {
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("example is not JSON: %v", err)
				}
				err = sch.Validate(inst)
				if dir == "invalid" {
					if err == nil {
						t.Fatal("schema accepted an invalid example")
					}
					return
				}
				if err != nil {
					t.Fatalf("schema rejected a valid example: %v", err)
				}
				// A valid document decodes into Schedule and passes Validate too.
				var s Schedule
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&s); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if l := s.Validate(""); len(l) > 0 {
					t.Fatalf("Validate: %v", l.Err())
				}
			})
		}
	}
}

// TestJSONSchemaMatchesStruct keeps the schema's properties and the struct's JSON tags in step.
func TestJSONSchemaMatchesStruct(t *testing.T) {
	var doc struct {
		Properties           map[string]json.RawMessage `json:"properties"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	if err := json.Unmarshal(JSONSchema, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AdditionalProperties == nil || *doc.AdditionalProperties {
		t.Fatal("schema must set additionalProperties: false")
	}
	var tags []string
	st := reflect.TypeFor[Schedule]()
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		tags = append(tags, name)
	}
	var props []string
	for p := range doc.Properties {
		props = append(props, p)
	}
	slices.Sort(tags)
	slices.Sort(props)
	if !slices.Equal(tags, props) {
		t.Fatalf("schema properties %v, struct fields %v", props, tags)
	}
}
