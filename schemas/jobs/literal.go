package jobs

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"
	sigsyaml "sigs.k8s.io/yaml"
)

// DecodeYAML decodes the YAML (or JSON) document y into v, a pointer, as Parse reads a job: a
// field that v's type does not have is an error, a plain scalar in a string field or map key
// keeps the text written (a password `0123` stays "0123", not "83"; `yes` stays "yes"), one of
// decimal digits in an integer field is read in decimal and any other number there is refused
// (keepLiterals). Errors that give a line give it in y as written.
//
// The error wraps ErrSyntax, ErrDuplicateField or ErrWrongType (a refused number); an unknown
// field, or a value of the wrong type, is the YAML decoder's error.
func DecodeYAML(y []byte, v any) error {
	lit, _, err := readLiterally(y, shapeOf(reflect.TypeOf(v)))
	if err != nil {
		return yamlError(y, err)
	}
	return sigsyaml.UnmarshalStrict(lit, v)
}

// yamlError returns the error of reading the YAML document y literally (readLiterally) as its
// author sees it: the error that y as written gives, when it gives one, carries the line numbers
// of y and not those of its re-encoded form, and the messages of the decoder that the checks
// below recognise.
func yamlError(y []byte, err error) error {
	if errors.Is(err, ErrWrongType) {
		return err
	}
	if _, orig := sigsyaml.YAMLToJSONStrict(y); orig != nil {
		err = orig
	}
	if strings.Contains(err.Error(), "already set in map") {
		return fmt.Errorf("%w: %w", ErrDuplicateField, err)
	}
	return fmt.Errorf("%w: %w", ErrSyntax, err)
}

// readLiterally returns the YAML document y, whose values s describes, with the plain scalars of
// its string fields quoted and those of its integer fields in decimal (keepLiterals), and its
// JSON form.
func readLiterally(y []byte, s *shape) ([]byte, []byte, error) {
	y, err := keepLiterals(y, s)
	if err != nil {
		return nil, nil, err
	}
	js, err := sigsyaml.YAMLToJSONStrict(y)
	return y, js, err
}

// keepLiterals returns the YAML document y, whose values s describes, with every plain scalar
// that lands in a string field double-quoted, so that the YAML 1.1 rules of the decoder that
// follows cannot change what the DBA wrote: without it `name: 0001` reads as "1", `012` as "10",
// `0x1F` as "31", `1.10` as "1.1", `yes` as "true", and `.inf` fails. A plain scalar of decimal
// digits in an integer or duration field is rewritten without its leading zeros, so that
// `active_start_time: 060000` (hhmmss) is 60000 and not octal 24576; any other number in an
// integer field (`0x1F`, `0o17`, `1e3`, `1_000`, `6.0`) is refused, as every integer of the job
// model is a decimal count, code, date or time. Null (`name:` or `name: ~`), quoted and block
// scalars and explicitly tagged values (`!!int 010`) are left alone, as are the keys and values
// of other fields. A document that is a list when s is not is read as a list of s (ParseMany
// reads a list of jobs). A document with nothing to change comes back unchanged, byte for byte;
// otherwise it is re-encoded, which loses its layout but none of its content, so callers read
// errors that carry line numbers from the original first (yamlError).
//
// A refused number is an error that wraps ErrWrongType and gives its line; all of them are
// reported together (errors.Join). Other errors are the YAML parser's.
func keepLiterals(y []byte, s *shape) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return y, nil
	}
	inlineScalarAliases(&doc, map[*yaml.Node]bool{})
	if doc.Content[0].Kind == yaml.SequenceNode && s != nil && s.kind != kindArray {
		s = &shape{kind: kindArray, elem: s}
	}
	q := quoter{seen: map[*yaml.Node]bool{}}
	q.walk(doc.Content[0], s, "")
	if len(q.errs) > 0 {
		return nil, errors.Join(q.errs...)
	}
	if !q.changed {
		return y, nil
	}
	return yaml.Marshal(&doc)
}

// inlineScalarAliases replaces every alias of a scalar with a copy of it, so that quoting the
// scalar where it is a string (`step_name: &n 010`) leaves it a number where it is an integer
// (`retry_attempts: *n`).
func inlineScalarAliases(n *yaml.Node, seen map[*yaml.Node]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode && c.Alias != nil && c.Alias.Kind == yaml.ScalarNode {
			inline := *c.Alias
			inline.Anchor = ""
			n.Content[i] = &inline
			continue
		}
		inlineScalarAliases(c, seen)
	}
}

// quoter walks a YAML node tree alongside the shape of the job model.
type quoter struct {
	// seen holds the collections walked: an anchored one is walked once, however many aliases
	// and merge keys name it.
	seen    map[*yaml.Node]bool
	changed bool
	errs    []error // the numbers refused
}

// walk goes through n, the value of the field named field, which s describes.
func (q *quoter) walk(n *yaml.Node, s *shape, field string) {
	if s == nil || q.seen[n] {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch s.kind {
		case kindString:
			q.quote(n)
		case kindInteger:
			q.integer(n, field)
		case kindDuration:
			q.decimal(n)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			q.walk(n.Alias, s, field)
		}
	case yaml.SequenceNode:
		q.seen[n] = true
		if s.kind == kindArray {
			for _, c := range n.Content {
				q.walk(c, s.elem, field)
			}
		}
	case yaml.MappingNode:
		q.seen[n] = true
		if s.kind == kindObject || s.kind == kindMap {
			q.object(n, s, field)
		}
	}
}

// object walks the fields of a mapping, an object or a map; the mappings merged into it
// (`<<: *defaults`) are walked as the same object. Its plain keys are quoted too, so that an
// unknown key is reported as written (`on`, not "true") and the key of a map is what was
// written (`007`, not "7").
func (q *quoter) object(n *yaml.Node, s *shape, field string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			if v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					q.walk(m, s, field)
				}
				continue
			}
			q.walk(v, s, field)
			continue
		}
		if k.Kind == yaml.ScalarNode {
			q.quote(k)
		}
		q.walk(v, s.field(k.Value), k.Value)
	}
}

// quote double-quotes a plain scalar that is not null.
func (q *quoter) quote(n *yaml.Node) {
	if n.Style != 0 || n.ShortTag() == "!!null" {
		return
	}
	n.Style = yaml.DoubleQuotedStyle
	n.Tag = "!!str"
	q.changed = true
}

// decimalDigits is a plain scalar that YAML 1.1 reads as an integer in base 8 when it has a
// leading zero, and a DBA means in base 10.
var decimalDigits = regexp.MustCompile(`^[-+]?[0-9]+$`)

// decimal rewrites a plain scalar of decimal digits without its leading zeros and plus sign, and
// reports whether n is one.
func (q *quoter) decimal(n *yaml.Node) bool {
	if n.Style != 0 || !decimalDigits.MatchString(n.Value) {
		return false
	}
	digits := strings.TrimLeft(strings.TrimLeft(n.Value, "+-"), "0")
	switch {
	case digits == "":
		digits = "0"
	case n.Value[0] == '-':
		digits = "-" + digits
	}
	if digits != n.Value {
		n.Value = digits
		q.changed = true
	}
	return true
}

// integer reads a plain scalar of an integer field in decimal (decimal) and refuses any other
// number: YAML would read `0x1F` as 31 and `1e3` as 1000, and in the job model a hexadecimal
// step id or an exponent is never what the author meant.
func (q *quoter) integer(n *yaml.Node, field string) {
	if q.decimal(n) || n.Style != 0 {
		return
	}
	if t := n.ShortTag(); t == "!!int" || t == "!!float" {
		q.errs = append(q.errs, fmt.Errorf("line %d: %s: %w: %s is not a whole number in decimal; write the number in decimal digits",
			n.Line, field, ErrWrongType, n.Value))
	}
}
