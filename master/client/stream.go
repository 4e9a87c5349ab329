package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Event is one Server-Sent Event: its name ("message" when the stream names none) and its data
// (the data lines joined by newlines), or a comment line (": ...") when Comment is set.
type Event struct {
	Name    string
	Data    []byte
	Comment bool
}

// maxEventLine bounds one line of an event stream; the master's lines are far shorter.
const maxEventLine = 1 << 20

// ErrStop, returned by a Stream callback, ends the stream without an error.
var ErrStop = errors.New("stop the stream")

// Stream sends a GET to path and reads its answer as Server-Sent Events (text/event-stream),
// calling fn for each event and comment until the master ends the stream (nil), ctx ends
// (ctx's error), or fn returns an error (nil for ErrStop). An error answer of the API is an
// *Error as with Do. The stream has no overall timeout, unlike Do.
func (c *Client) Stream(ctx context.Context, path string, fn func(Event) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("Accept", "text/event-stream")
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.Timeout = 0 // a stream lasts as long as it lasts; ctx ends it
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("master at %s is not answering (is `msx up` or `msx master` running?): %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return errorOf(resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%s answered %q, not an event stream (text/event-stream): is it an msx master?", c.Base, ct)
	}
	err = ReadEvents(resp.Body, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// ReadEvents reads Server-Sent Events from r (the text/event-stream format) and calls fn for
// each, until r ends (nil) or fn fails. A line longer than 1 MiB is an error.
func ReadEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var ev Event
	var data [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // an event ends
			if data != nil {
				ev.Data = bytes.Join(data, []byte("\n"))
				if ev.Name == "" {
					ev.Name = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = Event{}, nil
		case line[0] == ':':
			if err := fn(Event{Comment: true, Data: bytes.TrimSpace(line[1:])}); err != nil {
				return err
			}
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				ev.Name = string(value)
			case "data":
				data = append(data, append([]byte(nil), value...))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the event stream: %w", err)
	}
	return nil
}
