package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/msx-project/msx/master"
	"github.com/msx-project/msx/schemas/jobs"
)

// openAPIYAML is the OpenAPI 3.1 document of the API, written by hand next to the handlers it
// describes; openapi_test.go fails when a route is missing from it, or it from the routes.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIPath is where the document lives in the repository: its external $refs are relative
// to it, and name files embedded elsewhere (see externalSchemas).
const openAPIPath = "master/api/openapi.yaml"

// externalSchemas are the JSON Schemas the document refers to by relative path, by the path
// they resolve to from openAPIPath. The job schema is the one jobs.Parse checks documents
// against: it is referred to, never copied.
var externalSchemas = map[string][]byte{
	"schemas/jobs/job.schema.json": jobs.JSONSchema,
}

// maxValidatedResponse bounds the answer a validating handler holds to check; a larger one is
// passed on unchecked, and reported.
const maxValidatedResponse = 64 << 20

// apiDoc is the loaded document with what checking requests and answers against it needs.
type apiDoc struct {
	doc    *openapi3.T
	router routers.Router
	json   []byte // self-contained: the external schemas are in components
}

// loadDoc loads the embedded document once.
var loadDoc = sync.OnceValues(func() (*apiDoc, error) {
	doc, err := parseOpenAPI()
	if err != nil {
		return nil, err
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: route the document: %w", err)
	}
	bundled, err := parseOpenAPI()
	if err != nil {
		return nil, err
	}
	bundled.InternalizeRefs(context.Background(), nil)
	for _, sc := range bundled.Components.Schemas {
		// The external schemas' $defs are components now, referred to from the document's
		// root: a $id left on them would make those references resolve against the schema's
		// own URL instead.
		if sc.Value != nil {
			sc.Value.SchemaID, sc.Value.SchemaDialect, sc.Value.Defs = "", "", nil
		}
	}
	js, err := json.MarshalIndent(bundled, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: write the document as JSON: %w", err)
	}
	return &apiDoc{doc: doc, router: r, json: append(js, '\n')}, nil
})

// parseOpenAPI loads and checks the embedded document, its external $refs read from
// externalSchemas.
func parseOpenAPI() (*openapi3.T, error) {
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		if b, ok := externalSchemas[path.Clean(u.Path)]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("openapi: %s refers to %s, which is not among the embedded schemas (see externalSchemas)", openAPIPath, u)
	}
	doc, err := l.LoadFromDataWithPath(openAPIYAML, &url.URL{Path: openAPIPath})
	if err != nil {
		return nil, fmt.Errorf("openapi: load %s: %w", openAPIPath, err)
	}
	if err := doc.Validate(l.Context); err != nil {
		return nil, fmt.Errorf("openapi: %s is not a valid OpenAPI document: %w", openAPIPath, err)
	}
	return doc, nil
}

// OpenAPI returns the API's OpenAPI document, loaded and checked, its external schemas
// resolved. The caller must not change it.
func OpenAPI() (*openapi3.T, error) {
	d, err := loadDoc()
	if err != nil {
		return nil, err
	}
	return d.doc, nil
}

// OpenAPIJSON returns the document as served at GET /api/v1/openapi.json: JSON, self-contained
// (the job schema it refers to is one of its components), for any OpenAPI viewer.
func OpenAPIJSON() ([]byte, error) {
	d, err := loadDoc()
	if err != nil {
		return nil, err
	}
	return d.json, nil
}

// serveOpenAPI answers GET /api/v1/openapi.json, to anyone: the document holds no data.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	b, err := OpenAPIJSON()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, master.CodeInternal, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// Mismatch is an exchange the OpenAPI document does not describe: a request it rejects that
// the API accepted, or an answer it does not allow (an undocumented status, a body that does
// not match the schema).
type Mismatch struct {
	Method, Path string // the request
	Status       int    // the answer's
	Err          error
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("OpenAPI document mismatch: %s %s answered %d: %v", m.Method, m.Path, m.Status, m.Err)
}

func (m *Mismatch) Unwrap() error { return m.Err }

// ValidateHandler returns h with each exchange checked against the OpenAPI document and each
// mismatch passed to report; the answers themselves pass unchanged. Requests outside /api/
// that the document does not describe (the web console's files) are not checked. Tests wrap
// the API with it so that neither the handlers nor the document can drift.
func ValidateHandler(h http.Handler, report func(*Mismatch)) (http.Handler, error) {
	d, err := loadDoc()
	if err != nil {
		return nil, err
	}
	return &validating{doc: d, next: h, report: report}, nil
}

// StrictHandler is ValidateHandler for a running master (`msx master` with
// MSX_API_VALIDATE=1): an answer that does not match the document is replaced by a 500 whose
// error message names the mismatch, and logged on log. Answers streamed as they are written
// (text/event-stream) cannot be taken back: their mismatches are only logged.
func StrictHandler(h http.Handler, log *slog.Logger) (http.Handler, error) {
	d, err := loadDoc()
	if err != nil {
		return nil, err
	}
	log = log.With("component", "master.api.openapi")
	return &validating{doc: d, next: h, strict: true, report: func(m *Mismatch) {
		log.Error("answer does not match the OpenAPI document", "method", m.Method, "path", m.Path, "status", m.Status, "err", m.Err)
	}}, nil
}

type validating struct {
	doc    *apiDoc
	next   http.Handler
	strict bool
	report func(*Mismatch)
}

func (v *validating) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		v.next.ServeHTTP(w, r) // a GET without its body: nothing to check
		return
	}
	route, params, err := v.doc.router.FindRoute(r)
	if err != nil {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			v.next.ServeHTTP(w, r) // the console's pages and files
			return
		}
		// Served or not, the document must say so: check the answer as an undocumented one.
		c := &capture{w: w}
		v.next.ServeHTTP(c, r)
		v.finish(c, &Mismatch{Method: r.Method, Path: r.URL.Path, Status: c.code(), Err: fmt.Errorf("the document has no operation %s %s: %w", r.Method, r.URL.Path, err)})
		return
	}
	body, bodyOK := readBody(r)
	c := &capture{w: w}
	v.next.ServeHTTP(c, r)
	if _, set := c.Header()["Content-Type"]; !set && !c.stream && c.buf.Len() > 0 {
		// What net/http would send: the answer is checked as the client gets it.
		c.Header().Set("Content-Type", http.DetectContentType(c.buf.Bytes()))
	}
	v.finish(c, v.check(r, route, params, body, bodyOK, c))
}

// readBody reads the request body for checking and puts it back for the handler; bodies
// larger than the API takes are not checked (ok false): the handler refuses them.
func readBody(r *http.Request) (b []byte, ok bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	return b, err == nil && len(b) <= maxBody
}

// check returns what does not match the document in one exchange, or nil.
func (v *validating) check(r *http.Request, route *routers.Route, params map[string]string, body []byte, bodyOK bool, c *capture) *Mismatch {
	ctx := r.Context()
	mismatch := func(err error) *Mismatch {
		return &Mismatch{Method: r.Method, Path: r.URL.RequestURI(), Status: c.code(), Err: err}
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc, // the API checks tokens itself
		IncludeResponseStatus: true,
		ExcludeRequestBody:    !bodyOK,
		ExcludeResponseBody:   c.stream,
		MultiError:            true,
	}
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		// The API reads a body whatever its Content-Type: JSON, or for a job document YAML.
		ct := "application/json"
		if rb := route.Operation.RequestBody; !json.Valid(body) && rb != nil && rb.Value != nil && rb.Value.GetMediaType("application/yaml") != nil {
			ct = "application/yaml"
		}
		req.Header.Set("Content-Type", ct)
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/yaml") {
		// YAML parsers differ at the edges (octal, trailing text): the API's own parser is the
		// one that counts, and it checks what it reads as it checks JSON.
		opts.ExcludeRequestBody = true
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && c.code() < 400 {
		return mismatch(fmt.Errorf("the API accepted a request the document rejects: %w", err))
	}
	if c.overflow {
		return mismatch(fmt.Errorf("answer larger than %d bytes: not checked", maxValidatedResponse))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: c.code(), Header: c.Header(), Options: opts}
	out.SetBodyBytes(c.buf.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return mismatch(fmt.Errorf("the answer does not match the document: %w", err))
	}
	return nil
}

// finish reports m, and sends the answer held in c: as the handler wrote it, or in strict
// mode, when it does not match, a 500 naming the mismatch.
func (v *validating) finish(c *capture, m *Mismatch) {
	if m != nil {
		v.report(m)
	}
	if c.stream {
		return // already sent
	}
	if m != nil && v.strict {
		for k := range c.w.Header() {
			c.w.Header().Del(k)
		}
		writeErr(c.w, http.StatusInternalServerError, master.CodeInternal, m)
		return
	}
	c.w.WriteHeader(c.code())
	_, _ = c.w.Write(c.buf.Bytes())
}

// capture holds an answer until it is checked. A stream (text/event-stream), or an answer
// that grows past maxValidatedResponse, is passed on as it is written instead.
type capture struct {
	w        http.ResponseWriter
	status   int
	buf      bytes.Buffer
	stream   bool // passed on as written
	overflow bool // too large to hold
}

func (c *capture) Header() http.Header { return c.w.Header() }

func (c *capture) code() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

func (c *capture) WriteHeader(status int) {
	if c.status != 0 {
		return
	}
	c.status = status
	if strings.HasPrefix(c.w.Header().Get("Content-Type"), "text/event-stream") {
		c.stream = true
		c.w.WriteHeader(status)
	}
}

func (c *capture) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	if !c.stream && c.buf.Len()+len(b) > maxValidatedResponse {
		c.stream, c.overflow = true, true
		c.w.WriteHeader(c.status)
		if _, err := c.w.Write(c.buf.Bytes()); err != nil {
			return 0, err
		}
		c.buf = bytes.Buffer{}
	}
	if c.stream {
		return c.w.Write(b)
	}
	return c.buf.Write(b)
}

// Flush passes a stream's flushes on; a held answer is sent when checked.
func (c *capture) Flush() {
	if f, ok := c.w.(http.Flusher); ok && c.stream {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines of a stream).
func (c *capture) Unwrap() http.ResponseWriter { return c.w }

var (
	_ http.Handler = (*validating)(nil)
	_ http.Flusher = (*capture)(nil)
	_ error        = (*Mismatch)(nil)
)
