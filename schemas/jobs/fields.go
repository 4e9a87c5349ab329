package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/msx-project/msx/schemas/problem"
)

// shape is what a document may hold at one place, derived from the json tags and field types of
// the Go types, so that a field added to Job, Step, Targets or schedule.Schedule is accepted
// without a second list to keep up to date. A nil *shape accepts any value.
type shape struct {
	kind   kind
	fields map[string]*shape // kind object: the fields
	names  []string          // kind object: sorted keys of fields, for messages
	elem   *shape            // kind array: the element; kind map: every value
}

type kind int

const (
	kindAny kind = iota
	kindObject
	kindArray
	kindString
	kindInteger
	kindBoolean
	kindDuration
	kindMap // an object whose keys are data, not field names
)

var kindNames = [...]string{"any value", "an object", "a list", "a string", "an integer", "true or false", `a duration such as "90s" or "1h30m", or a number of seconds`, "an object"}

var jobShape = shapeOf(reflect.TypeFor[Job]())

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

func shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[Duration]() {
		return &shape{kind: kindDuration}
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil // a custom decoder checks its own input
	}
	switch t.Kind() {
	case reflect.String:
		return &shape{kind: kindString}
	case reflect.Bool:
		return &shape{kind: kindBoolean}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &shape{kind: kindInteger}
	case reflect.Slice, reflect.Array:
		return &shape{kind: kindArray, elem: shapeOf(t.Elem())}
	case reflect.Map:
		return &shape{kind: kindMap, elem: shapeOf(t.Elem())}
	case reflect.Struct:
		s := &shape{kind: kindObject, fields: map[string]*shape{}}
		for f := range t.Fields() {
			if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
				// An embedded struct's fields sit at the top level, as encoding/json puts them.
				for n, fs := range shapeOf(f.Type).fields {
					s.fields[n] = fs
					s.names = append(s.names, n)
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[name] = shapeOf(f.Type)
			s.names = append(s.names, name)
		}
		slices.Sort(s.names)
		return s
	}
	return nil
}

// field returns the shape of the value of key in an object or map of shape s.
func (s *shape) field(key string) *shape {
	if s.kind == kindMap {
		return s.elem
	}
	return s.fields[key]
}

// checker walks a JSON value against a shape and collects every unknown field, duplicate field
// and value of the wrong type, each with its path.
type checker struct {
	dec *json.Decoder
	// fromYAML accepts numbers and booleans for strings, as YAML decoding converts them. Plain
	// scalars in string fields arrive quoted (keepLiterals), so this is for values the author
	// tagged (`name: !!int 2024`).
	fromYAML bool
	errs     []error
}

// checkFields checks a JSON value against s. Syntax errors wrap ErrSyntax; the others are
// joined, each wrapping ErrUnknownField, ErrDuplicateField or ErrWrongType.
func checkFields(js []byte, s *shape, path string, fromYAML bool) error {
	c := &checker{dec: json.NewDecoder(bytes.NewReader(js)), fromYAML: fromYAML}
	c.dec.UseNumber()
	if err := c.walk(s, path); err != nil {
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return errors.Join(c.errs...)
}

func (c *checker) wrongType(path string, s *shape, got string) {
	c.errs = append(c.errs, fmt.Errorf("%s: %w: want %s, got %s", describePath(path), ErrWrongType, kindNames[s.kind], got))
}

func describePath(path string) string {
	if path == "" {
		return "job"
	}
	return path
}

func (c *checker) walk(s *shape, path string) error {
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	if s == nil {
		s = &shape{} // kindAny: walk the value without checking it
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		c.scalar(s, path, tok)
		return nil
	}
	switch {
	case d == '{' && s.kind != kindObject && s.kind != kindMap && s.kind != kindAny:
		c.wrongType(path, s, "an object")
		s = &shape{}
	case d == '[' && s.kind != kindArray && s.kind != kindAny:
		c.wrongType(path, s, "a list")
		s = &shape{}
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for c.dec.More() {
			tok, err := c.dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			var child *shape
			if s.kind == kindObject || s.kind == kindMap {
				if seen[key] {
					c.errs = append(c.errs, fmt.Errorf("%s: %w: a field may appear once in an object", problem.Join(path, key), ErrDuplicateField))
				}
				seen[key] = true
				if _, known := s.fields[key]; !known && s.kind == kindObject {
					c.errs = append(c.errs, s.unknown(key, path))
				}
				child = s.field(key)
			}
			if err := c.walk(child, problem.Join(path, key)); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; c.dec.More(); i++ {
			if err := c.walk(s.elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	_, err = c.dec.Token() // the closing delimiter
	return err
}

// scalar checks a string, number, boolean or null against s.
func (c *checker) scalar(s *shape, path string, tok json.Token) {
	if tok == nil {
		return // null leaves the field at its zero value
	}
	var got string
	switch v := tok.(type) {
	case string:
		switch s.kind {
		case kindAny, kindString:
			return
		case kindDuration:
			var d Duration
			b, _ := json.Marshal(v)
			if err := d.UnmarshalJSON(b); err != nil {
				c.errs = append(c.errs, fmt.Errorf("%s: %w: %w", describePath(path), ErrWrongType, err))
			}
			return
		}
		got = fmt.Sprintf("the string %q", truncate(v))
	case json.Number:
		switch s.kind {
		case kindAny, kindDuration:
			return
		case kindString:
			if c.fromYAML {
				return
			}
		case kindInteger:
			if _, err := v.Int64(); err == nil {
				return
			}
		}
		got = "the number " + truncate(v.String())
	case bool:
		if s.kind == kindAny || s.kind == kindBoolean || (s.kind == kindString && c.fromYAML) {
			return
		}
		got = fmt.Sprint(v)
	}
	c.wrongType(path, s, got)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func describe(path string) string {
	if path == "" {
		return "of a job"
	}
	return "of " + path
}

// unknown builds the error for an unknown field: it names the field meant when one is close
// enough, otherwise it lists the fields that exist.
func (s *shape) unknown(key, path string) error {
	at := problem.Join(path, key)
	if best := s.suggest(key); best != "" {
		return fmt.Errorf("%s: %w; did you mean %q?", at, ErrUnknownField, best)
	}
	return fmt.Errorf("%s: %w; the fields %s are %s", at, ErrUnknownField, describe(path), strings.Join(s.names, ", "))
}

// aliases maps the names people carry over from sp_add_job and friends, or from other tools, to
// msx's field names. An alias is suggested only where its target exists.
var aliases = map[string][]string{
	"job_name":      {"name"},
	"schedule_name": {"name"},
	"id":            {"step_id", "job_id"},
	"step":          {"steps"},
	"schedule":      {"schedules"},
	"target":        {"targets"},
	"server":        {"servers"},
	"server_name":   {"servers"},
	"group":         {"groups"},
	"group_name":    {"groups"},
	"database":      {"database_name"},
	"output_file":   {"output_file_name"},
	"retries":       {"retry_attempts"},
	"enable":        {"enabled"},
	"disabled":      {"enabled"},
	"type":          {"subsystem", "freq_type"},
	"timezone":      {"time_zone"},
}

func (s *shape) suggest(key string) string {
	low := strings.ToLower(key)
	for _, a := range aliases[low] {
		if _, ok := s.fields[a]; ok {
			return a
		}
	}
	// Same name but for case and separators: stepName, Step-Name, STEP_NAME.
	squash := func(v string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(v))
	}
	for _, n := range s.names {
		if squash(n) == squash(key) {
			return n
		}
	}
	// A typo: the closest name within a third of its length (at least 2 edits).
	best, bestDist := "", 0
	for _, n := range s.names {
		d := editDistance(low, n)
		limit := max(2, len(n)/3)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes. Inputs longer than 256
// bytes are not compared (no field name is that long) so a hostile key costs little.
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
