package master

import (
	"testing"

	"github.com/msx-project/msx/bus"
)

var consumerRequestCases = []struct {
	name    string
	subject string
	data    string
	token   string // "" when refused
}{
	{"valid", "msx.rpc.consumer.SQL04", `{"type":"msx.consumer.request.v1","start_seq":42,"time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, "SQL04"},
	{"instance token", "msx.rpc.consumer.SQL04~INST", `{"type":"msx.consumer.request.v1","start_seq":1,"time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, "SQL04~INST"},
	{"no token", "msx.rpc.consumer", `{"type":"msx.consumer.request.v1","start_seq":1,"time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, ""},
	{"two tokens", "msx.rpc.consumer.A.B", `{"type":"msx.consumer.request.v1","start_seq":1,"time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, ""},
	{"other subject", "msx.rpc.enlist", `{"type":"msx.consumer.request.v1","start_seq":1,"time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, ""},
	{"sequence 0", "msx.rpc.consumer.SQL04", `{"type":"msx.consumer.request.v1","start_seq":0,"time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, ""},
	{"extra field", "msx.rpc.consumer.SQL04", `{"type":"msx.consumer.request.v1","start_seq":1,"time":"2026-12-02T06:00:00Z","signature":"c2ln","deliver_subject":"msx.audit"}`, ""},
	{"no signature", "msx.rpc.consumer.SQL04", `{"type":"msx.consumer.request.v1","start_seq":1,"time":"2026-12-02T06:00:00Z"}`, ""},
	{"wrong type", "msx.rpc.consumer.SQL04", `{"type":"msx.defect.request.v1","server_name":"SQL04","time":"2026-12-02T06:00:00Z","signature":"c2ln"}`, ""},
	{"junk", "msx.rpc.consumer.SQL04", `junk`, ""},
}

func TestDecodeConsumerRequest(t *testing.T) {
	for _, tc := range consumerRequestCases {
		t.Run(tc.name, func(t *testing.T) {
			tok, req, err := decodeConsumerRequest(tc.subject, []byte(tc.data))
			if tc.token == "" {
				if err == nil || CodeOf(err) != CodeBadRequest {
					t.Fatalf("accepted (token %q, %+v) or wrong code: %v", tok, req, err)
				}
				return
			}
			if err != nil || tok != tc.token || req.StartSeq == 0 {
				t.Fatalf("got %q %+v %v, want token %q", tok, req, err, tc.token)
			}
		})
	}
}

// FuzzDecodeConsumerRequest: whatever a target sends, the decoder returns a valid token and a
// request that satisfies its schema, or a coded error; it never panics.
func FuzzDecodeConsumerRequest(f *testing.F) {
	for _, tc := range consumerRequestCases {
		f.Add(tc.subject, []byte(tc.data))
	}
	f.Fuzz(func(t *testing.T, subj string, data []byte) {
		tok, req, err := decodeConsumerRequest(subj, data)
		if err != nil {
			if CodeOf(err) != CodeBadRequest {
				t.Fatalf("error without the bad-request code: %v", err)
			}
			return
		}
		if bus.CheckToken(tok) != nil || req.StartSeq == 0 || req.Signature == "" {
			t.Fatalf("accepted %q %+v", tok, req)
		}
		_ = bus.ConsumerSubject(tok) // a token that passed must build a subject without panicking
		_ = bus.InstrConsumerName(tok)
	})
}
