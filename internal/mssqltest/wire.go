package mssqltest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unicode/utf16"
)

// TDS packet types ([MS-TDS] 2.2.3.1.1). The fake accepts the ones go-mssqldb
// sends; any other type ends the connection.
const (
	packSQLBatch     byte = 1
	packRPCRequest   byte = 3
	packReply        byte = 4
	packAttention    byte = 6
	packTransMgrReq  byte = 14
	packLogin7       byte = 16
	packPrelogin     byte = 18
	packetHeaderSize      = 8
)

// Packet status bits.
const (
	statusEOM          = 0x01
	statusResetSession = 0x08
)

// Packet sizes the driver negotiates: it clamps its request to [512, 32767].
const (
	minPacketSize     = 512
	maxPacketSize     = 32767
	defaultPacketSize = 4096
)

// message is one client request: the payloads of its packets joined.
type message struct {
	typ   byte
	reset bool
	data  []byte
}

// readMessage reads packets until the end-of-message bit and joins their
// payloads. It returns ErrProtocol for anything the driver would never send:
// a header shorter than itself, a packet larger than maxPacketSize, a packet
// type the fake does not know, a type change inside a message, or a message
// larger than limit bytes.
func readMessage(r io.Reader, limit int) (message, error) {
	var m message
	var hdr [packetHeaderSize]byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if !first && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		typ, status := hdr[0], hdr[1]
		size := int(binary.BigEndian.Uint16(hdr[2:4]))
		switch {
		case size < packetHeaderSize || size > maxPacketSize+1:
			return m, fmt.Errorf("%w: packet size %d", ErrProtocol, size)
		case !knownPacketType(typ):
			return m, fmt.Errorf("%w: packet type %d", ErrProtocol, typ)
		case !first && typ != m.typ:
			return m, fmt.Errorf("%w: packet type %d inside a message of type %d", ErrProtocol, typ, m.typ)
		case len(m.data)+size-packetHeaderSize > limit:
			return m, fmt.Errorf("%w: message larger than %d bytes", ErrProtocol, limit)
		}
		if first {
			m.typ = typ
			m.reset = status&statusResetSession != 0
		}
		n := len(m.data)
		m.data = append(m.data, make([]byte, size-packetHeaderSize)...)
		if _, err := io.ReadFull(r, m.data[n:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		if status&statusEOM != 0 {
			return m, nil
		}
	}
}

func knownPacketType(t byte) bool {
	switch t {
	case packSQLBatch, packRPCRequest, packAttention, packTransMgrReq, packLogin7, packPrelogin:
		return true
	}
	return false
}

// packetWriter frames a reply into packets of at most size bytes. Errors are
// sticky: after the first failed write every call is a no-op and err reports
// it, so token encoders need not check each field.
type packetWriter struct {
	w    io.Writer
	size int
	buf  []byte
	seq  byte
	err  error
}

func newPacketWriter(w io.Writer, size int) *packetWriter {
	return &packetWriter{w: w, size: size, buf: make([]byte, packetHeaderSize, size)}
}

func (p *packetWriter) flush(final bool) {
	if p.err != nil {
		return
	}
	p.buf[0] = packReply
	p.buf[1] = 0
	if final {
		p.buf[1] = statusEOM
	}
	binary.BigEndian.PutUint16(p.buf[2:4], uint16(len(p.buf)))
	p.buf[4], p.buf[5] = 0, 0
	p.seq++
	p.buf[6] = p.seq
	p.buf[7] = 0
	_, p.err = p.w.Write(p.buf)
	p.buf = p.buf[:packetHeaderSize]
}

// finish sends the last packet of the reply.
func (p *packetWriter) finish() error {
	p.flush(true)
	p.seq = 0
	return p.err
}

func (p *packetWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 && p.err == nil {
		room := p.size - len(p.buf)
		if room == 0 {
			p.flush(false)
			continue
		}
		n := min(room, len(b))
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
	}
	if p.err != nil {
		return 0, p.err
	}
	return total, nil
}

func (p *packetWriter) u8(v byte) { p.Write([]byte{v}) }

func (p *packetWriter) u16(v uint16) { p.Write(binary.LittleEndian.AppendUint16(nil, v)) }

func (p *packetWriter) u32(v uint32) { p.Write(binary.LittleEndian.AppendUint32(nil, v)) }

func (p *packetWriter) u64(v uint64) { p.Write(binary.LittleEndian.AppendUint64(nil, v)) }

// bvarchar writes a B_VARCHAR, truncated to 255 UTF-16 code units.
func (p *packetWriter) bvarchar(s string) {
	u := ucs2(s)
	if len(u) > 2*255 {
		u = u[:2*255]
	}
	p.u8(byte(len(u) / 2))
	p.Write(u)
}

// usvarchar writes a US_VARCHAR, truncated to 65535 UTF-16 code units.
func (p *packetWriter) usvarchar(s string) {
	u := ucs2(s)
	if len(u) > 2*math.MaxUint16 {
		u = u[:2*math.MaxUint16]
	}
	p.u16(uint16(len(u) / 2))
	p.Write(u)
}

// ucs2 encodes s as UTF-16LE, the only text encoding TDS uses on the wire.
func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// fromUCS2 decodes UTF-16LE; an odd length is a protocol error.
func fromUCS2(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: odd UCS-2 length %d", ErrProtocol, len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// reader decodes a request payload. Every method checks bounds and reports
// ErrProtocol instead of panicking: the payload comes from the network.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated %s at offset %d", ErrProtocol, what, r.off)
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil || n < 0 || n > r.left() {
		r.fail(what)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) u8(what string) byte {
	if b := r.bytes(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if b := r.bytes(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.bytes(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if b := r.bytes(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) ucs2(chars int, what string) string {
	b := r.bytes(2*chars, what)
	if r.err != nil {
		return ""
	}
	s, err := fromUCS2(b)
	if err != nil {
		r.err = err
	}
	return s
}

func (r *reader) bvarchar(what string) string { return r.ucs2(int(r.u8(what)), what) }

// skipAllHeaders skips the ALL_HEADERS block that starts SQLBatch, RPC and
// transaction manager requests (TDS 7.2 and later).
func (r *reader) skipAllHeaders() {
	total := int(r.u32("ALL_HEADERS"))
	if r.err == nil && (total < 4 || total-4 > r.left()) {
		r.err = fmt.Errorf("%w: ALL_HEADERS length %d", ErrProtocol, total)
		return
	}
	r.bytes(total-4, "ALL_HEADERS")
}
