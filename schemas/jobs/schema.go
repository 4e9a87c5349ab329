package jobs

import _ "embed"

// JSONSchema is the JSON Schema (draft 2020-12) of a job document, for editors and for tools
// that check documents before msx sees them. It checks fields and value ranges; Validate checks
// what a schema cannot, such as step references and duplicate names.
//
//go:embed job.schema.json
var JSONSchema []byte
