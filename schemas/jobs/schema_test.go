package jobs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/msx-project/msx/schemas/problem"
	"github.com/msx-project/msx/schemas/schedule"
)

const schemaURL = "https://github.com/msx-project/msx/schemas/jobs/job.schema.json"

func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// instance reads a YAML or JSON file as a JSON Schema instance.
func instance(t testing.TB, file string) any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaValidExamples(t *testing.T) {
	s := compileSchema(t)
	for _, file := range exampleFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := s.Validate(instance(t, file)); err != nil {
				t.Errorf("schema rejects a valid example: %v", err)
			}
		})
	}
}

// wantOf returns the "# want: ..." line of an invalid example: the problem path or error text
// that msx must report for it.
func wantOf(t testing.TB, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			return w
		}
	}
	t.Fatalf("%s: first line must be \"# want: <path or error text>\"", file)
	return ""
}

// TestSchemaInvalidExamples checks that the schema and the Go code agree: each invalid example is
// rejected by the schema and by Parse or Validate, at the path its want line names.
func TestSchemaInvalidExamples(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("invalid examples: %d, %v", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var ve *jsonschema.ValidationError
			if err := s.Validate(instance(t, file)); !errors.As(err, &ve) {
				t.Errorf("schema accepts an invalid example (err %v)", err)
			}
			want := wantOf(t, file)
			data, _ := os.ReadFile(file)
			j, err := Parse(data)
			if err != nil {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Parse error %q does not mention %q", err, want)
				}
				return
			}
			j.Normalize(testToday)
			probs := j.Validate()
			if !slices.ContainsFunc(probs, func(p problem.Problem) bool { return p.Path == want }) {
				t.Errorf("Validate = %v, want a problem at %s", probs, want)
			}
		})
	}
}

// TestSchemaMatchesTypes keeps the schema's properties and the Go types' json tags in step, so a
// field added to either is added to both.
func TestSchemaMatchesTypes(t *testing.T) {
	var doc struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(JSONSchema, &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		props map[string]json.RawMessage
		typ   reflect.Type
	}{
		{"job", doc.Properties, reflect.TypeFor[Job]()},
		{"step", doc.Defs["step"].Properties, reflect.TypeFor[Step]()},
		{"schedule", doc.Defs["schedule"].Properties, reflect.TypeFor[schedule.Schedule]()},
		{"targets", doc.Defs["targets"].Properties, reflect.TypeFor[Targets]()},
		{"variable", doc.Defs["variable"].Properties, reflect.TypeFor[Variable]()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inSchema []string
			for k := range tc.props {
				inSchema = append(inSchema, k)
			}
			slices.Sort(inSchema)
			inGo := shapeOf(tc.typ).names
			if !slices.Equal(inSchema, inGo) {
				t.Errorf("schema properties %q\ndiffer from json tags %q", inSchema, inGo)
			}
		})
	}
}
