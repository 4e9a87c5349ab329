package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxMessageSize bounds every document Decode accepts; larger ones are rejected unread.
const MaxMessageSize = 4 << 20

// Errors returned by Decode.
var (
	// ErrMalformed: the bytes are not a JSON object with a string "type" field.
	ErrMalformed = errors.New("malformed message")
	// ErrUnknownType: the type field names a message type this build does not know.
	ErrUnknownType = errors.New("unknown message type")
	// ErrWrongType: the document is of another type than the one asked for.
	ErrWrongType = errors.New("unexpected message type")
	// ErrInvalid: the document does not satisfy its JSON Schema.
	ErrInvalid = errors.New("message does not match its schema")
	// ErrTooLarge: the document is larger than MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
)

//go:embed wire/*.json
var wireFS embed.FS

// Typed is a wire type: it knows its type name.
type Typed interface{ MsgType() string }

func (EnlistRequest) MsgType() string     { return TypeEnlistRequest }
func (EnlistReply) MsgType() string       { return TypeEnlistReply }
func (DefectRequest) MsgType() string     { return TypeDefectRequest }
func (DefectReply) MsgType() string       { return TypeDefectReply }
func (ConsumerRequest) MsgType() string   { return TypeConsumerRequest }
func (ConsumerReply) MsgType() string     { return TypeConsumerReply }
func (Instruction) MsgType() string       { return TypeInstruction }
func (InstructionStatus) MsgType() string { return TypeInstructionStatus }
func (Heartbeat) MsgType() string         { return TypeHeartbeat }
func (LedgerClear) MsgType() string       { return TypeLedgerClear }
func (RunResult) MsgType() string         { return TypeRunResult }
func (Event) MsgType() string             { return TypeEvent }
func (Audit) MsgType() string             { return TypeAudit }

var compiled = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	names, err := fs.Glob(wireFS, "wire/*.json")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		b, _ := wireFS.ReadFile(n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		if err := c.AddResource(schemaID(n), doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
	}
	out := make(map[string]*jsonschema.Schema, len(names))
	for _, n := range names {
		s, err := c.Compile(schemaID(n))
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", n, err)
		}
		out[schemaID(n)] = s
	}
	return out, nil
})

func schemaID(file string) string {
	return strings.TrimSuffix(strings.TrimPrefix(file, "wire/"), ".json")
}

// Types lists every message type that has a schema.
func Types() []string {
	m, _ := compiled()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// parse reads a document once, for both its type field and schema validation.
func parse(data []byte) (inst any, typ string, err error) {
	if len(data) > MaxMessageSize {
		return nil, "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxMessageSize)
	}
	inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil, "", fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if typ, ok = obj["type"].(string); !ok {
		return nil, "", fmt.Errorf("%w: no \"type\" field", ErrMalformed)
	}
	return inst, typ, nil
}

// check validates a parsed document against the JSON Schema of typ.
func check(inst any, typ string) error {
	m, err := compiled()
	if err != nil {
		return err
	}
	s, ok := m[typ]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%w %s: %s", ErrInvalid, typ, flatten(err))
	}
	return nil
}

// Validate checks a document against the JSON Schema its type field names.
func Validate(data []byte) (string, error) {
	inst, typ, err := parse(data)
	if err != nil {
		return typ, err
	}
	return typ, check(inst, typ)
}

// Decode validates data against the schema of v's type and unmarshals it into v. A document of
// another type fails with ErrWrongType before any validation.
func Decode(data []byte, v Typed) error {
	inst, typ, err := parse(data)
	if err != nil {
		return err
	}
	if typ != v.MsgType() {
		return fmt.Errorf("%w: got %q, want %q", ErrWrongType, typ, v.MsgType())
	}
	if err := check(inst, typ); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// Encode sets v's type field and marshals it.
func Encode(v Typed) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if f := rv.Elem().FieldByName("Type"); f.IsValid() && f.CanSet() {
			f.SetString(v.MsgType())
		}
	} else {
		return nil, fmt.Errorf("encode %s: pass a pointer", v.MsgType())
	}
	return json.Marshal(v)
}

var printer = message.NewPrinter(language.English)

// flatten turns a jsonschema validation error tree into one line naming each failing location.
func flatten(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			parts = append(parts, loc+": "+e.ErrorKind.LocalizedString(printer))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return strings.Join(parts, "; ")
}
