package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Parse reads one job document in YAML or JSON. Field names are matched exactly and every field
// must be one the job model defines: an unknown field is an error that names it, gives its path
// and suggests the field probably meant (or lists the fields that exist). Parse does not fill
// defaults or validate values; call Normalize and Validate.
//
// The error wraps ErrNoDocument, ErrMultipleDocuments, ErrSyntax, ErrNotObject, ErrUnknownField,
// ErrDuplicateField or ErrWrongType; several unknown fields are reported together (errors.Join).
func Parse(data []byte) (Job, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return Job{}, err
	}
	switch {
	case len(docs) == 0:
		return Job{}, ErrNoDocument
	case len(docs) > 1:
		return Job{}, fmt.Errorf("%w: found %d documents", ErrMultipleDocuments, len(docs))
	case docs[0].isArray():
		return Job{}, fmt.Errorf("%w: found a list of jobs", ErrMultipleDocuments)
	}
	var j Job
	if err := docs[0].decode(&j, jobShape, ""); err != nil {
		return Job{}, err
	}
	return j, nil
}

// ParseMany reads every job in a YAML stream of documents separated by "---", a JSON array of
// job objects, or a single job. A YAML document that is a list of jobs contributes each of them.
// Errors are reported for all documents at once, each prefixed with its document number (from 1)
// and, in a list, its item index (from 0); they wrap the errors Parse returns. An input holding
// no job at all returns ErrNoDocument.
func ParseMany(data []byte) ([]Job, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, ErrNoDocument
	}
	var (
		jobs []Job
		errs []error
	)
	for i, d := range docs {
		if !d.isArray() {
			var j Job
			if err := d.decode(&j, jobShape, ""); err != nil {
				errs = append(errs, fmt.Errorf("document %d: %w", i+1, err))
				continue
			}
			jobs = append(jobs, j)
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(d.json, &items); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w: %w", i+1, ErrSyntax, err))
			continue
		}
		for k, raw := range items {
			var j Job
			item := document{json: raw}
			if d.yaml != nil {
				// JSON is YAML: decoding the item's JSON form as YAML reads it as a document of
				// its own would be (a value tagged `!!int` in a string field included).
				item.yaml = raw
			}
			if err := item.decode(&j, jobShape, ""); err != nil {
				errs = append(errs, fmt.Errorf("document %d, item %d: %w", i+1, k, err))
				continue
			}
			jobs = append(jobs, j)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(jobs) == 0 {
		return nil, ErrNoDocument
	}
	return jobs, nil
}

// document is one value of the input: its JSON form, always, and its YAML source when it was
// written in YAML, with the plain scalars of string fields quoted and those of integer fields in
// decimal (keepLiterals). Decoding from YAML lets a number or boolean that the author tagged
// explicitly fill a string field, as in `name: !!int 2024`.
type document struct {
	json []byte
	yaml []byte
}

func (d document) isArray() bool {
	t := bytes.TrimLeft(d.json, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// decode checks the document's fields against shape, then decodes it into v.
func (d document) decode(v any, s *shape, path string) error {
	t := bytes.TrimLeft(d.json, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return ErrNotObject
	}
	if err := checkFields(d.json, s, path, d.yaml != nil); err != nil {
		return err
	}
	var err error
	if d.yaml != nil {
		err = yaml.UnmarshalStrict(d.yaml, v)
	} else {
		dec := json.NewDecoder(bytes.NewReader(d.json))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Errorf("%w: %s: a %s cannot be read into a field of type %s", ErrWrongType, te.Field, te.Value, te.Type)
	}
	// Duration and other custom decoders report their own errors.
	return fmt.Errorf("%w: %w", ErrWrongType, err)
}

var utf8BOM = []byte("\xef\xbb\xbf")

// splitDocuments returns the documents of a JSON value or a YAML stream, skipping empty ones.
func splitDocuments(data []byte) ([]document, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if json.Valid(data) {
		if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
			return nil, nil
		}
		return []document{{json: data}}, nil
	}
	// A JSON value followed by more text is an error: the YAML parser would read the first value
	// and silently drop the rest.
	if t := bytes.TrimSpace(data); t[0] == '{' || t[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(t))
		var first json.RawMessage
		if dec.Decode(&first) == nil {
			return nil, fmt.Errorf("%w: text after the JSON value at offset %d; use a JSON array for several jobs", ErrSyntax, dec.InputOffset())
		}
	}
	var docs []document
	for i, y := range splitYAML(data) {
		lit, js, err := readLiterally(y, jobShape)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, yamlError(y, err))
		}
		if bytes.Equal(js, []byte("null")) {
			continue // only comments or white space
		}
		docs = append(docs, document{json: js, yaml: lit})
	}
	return docs, nil
}

// splitYAML cuts a YAML stream at its document markers: "---" and "..." at the start of a line,
// followed by white space or the end of the line. Text after "---" on the same line belongs to
// the next document.
func splitYAML(data []byte) [][]byte {
	var (
		docs [][]byte
		cur  []byte
	)
	for line := range bytes.Lines(data) {
		bare := bytes.TrimRight(line, "\r\n")
		switch {
		case isMarker(bare, "---"):
			docs = append(docs, cur)
			cur = append(bytes.Clone(bare[3:]), '\n')
		case isMarker(bare, "..."):
			docs = append(docs, cur)
			cur = nil
		default:
			cur = append(cur, line...)
		}
	}
	return append(docs, cur)
}

func isMarker(line []byte, marker string) bool {
	if !bytes.HasPrefix(line, []byte(marker)) {
		return false
	}
	return len(line) == len(marker) || line[len(marker)] == ' ' || line[len(marker)] == '\t'
}
