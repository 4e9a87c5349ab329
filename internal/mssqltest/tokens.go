package mssqltest

import (
	"encoding/binary"
	"strconv"
)

// Token types of a reply ([MS-TDS] 2.2.7).
const (
	tokReturnStatus = 0x79
	tokColMetadata  = 0x81
	tokError        = 0xAA
	tokInfo         = 0xAB
	tokReturnValue  = 0xAC
	tokLoginAck     = 0xAD
	tokRow          = 0xD1
	tokEnvChange    = 0xE3
	tokDone         = 0xFD
	tokDoneProc     = 0xFE
	tokDoneInProc   = 0xFF
)

// DONE status bits.
const (
	doneMore  = 0x01
	doneError = 0x02
	doneCount = 0x10
	doneAttn  = 0x20
)

// DONE CurCmd values; the driver only distinguishes SELECT.
const (
	cmdSelect = 0xC1
	cmdOther  = 0x00
)

// ENVCHANGE types.
const (
	envDatabase     = 1
	envPacketSize   = 4
	envBeginTran    = 8
	envCommitTran   = 9
	envRollbackTran = 10
)

// reply writes the tokens of one response. A DONE-family token is held back
// until the next token or the end of the reply, so that its DONE_MORE bit can
// say whether anything follows: the driver stops reading a reply at the first
// DONE, DONEPROC or DONEINPROC without that bit.
type reply struct {
	w       *packetWriter
	pending []byte // an encoded DONE-family token, its status at offset 1
}

func (r *reply) flushPending(more bool) {
	if r.pending == nil {
		return
	}
	if more {
		r.pending[1] |= doneMore
	}
	r.w.Write(r.pending)
	r.pending = nil
}

// begin writes the start of a token, releasing a held DONE first.
func (r *reply) begin(tok byte) {
	r.flushPending(true)
	r.w.u8(tok)
}

// done holds back a DONE, DONEPROC or DONEINPROC token.
func (r *reply) done(tok byte, status uint16, cmd uint16, rows uint64) {
	r.flushPending(true)
	b := make([]byte, 13)
	b[0] = tok
	binary.LittleEndian.PutUint16(b[1:], status)
	binary.LittleEndian.PutUint16(b[3:], cmd)
	binary.LittleEndian.PutUint64(b[5:], rows)
	r.pending = b
}

// end completes the reply. With attn it ends with the DONE carrying the
// attention bit that acknowledges a cancel; without a held DONE it adds a
// final empty one.
func (r *reply) end(attn bool) error {
	switch {
	case attn:
		r.flushPending(true)
		r.done(tokDone, doneAttn, cmdOther, 0)
		r.flushPending(false)
	case r.pending != nil:
		r.flushPending(false)
	default:
		r.done(tokDone, 0, cmdOther, 0)
		r.flushPending(false)
	}
	return r.w.finish()
}

// message writes an ERROR or INFO token.
func (r *reply) message(tok byte, number int32, state, class uint8, msg, server, proc string, line int32) {
	m, s, p := ucs2(truncRunes(msg, 65535)), ucs2(truncRunes(server, 255)), ucs2(truncRunes(proc, 255))
	r.begin(tok)
	r.w.u16(uint16(4 + 1 + 1 + 2 + len(m) + 1 + len(s) + 1 + len(p) + 4))
	r.w.u32(uint32(number))
	r.w.u8(state)
	r.w.u8(class)
	r.w.usvarchar(msg)
	r.w.bvarchar(server)
	r.w.bvarchar(proc)
	r.w.u32(uint32(line))
}

func truncRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// envChange writes an ENVCHANGE with B_VARCHAR values.
func (r *reply) envChange(typ byte, newValue, oldValue string) {
	n, o := ucs2(newValue), ucs2(oldValue)
	r.begin(tokEnvChange)
	r.w.u16(uint16(1 + 1 + len(n) + 1 + len(o)))
	r.w.u8(typ)
	r.w.bvarchar(newValue)
	r.w.bvarchar(oldValue)
}

// envTran writes a transaction ENVCHANGE: begin carries the new descriptor,
// commit and rollback the old one. The driver requires 8-byte descriptors.
func (r *reply) envTran(typ byte, id uint64) {
	d := binary.LittleEndian.AppendUint64(nil, id)
	r.begin(tokEnvChange)
	r.w.u16(1 + 1 + 8 + 1)
	r.w.u8(typ)
	if typ == envBeginTran {
		r.w.u8(8)
		r.w.Write(d)
		r.w.u8(0)
		return
	}
	r.w.u8(0)
	r.w.u8(8)
	r.w.Write(d)
}

// loginAck writes LOGINACK for TDS 7.4.
func (r *reply) loginAck(progName string, major, minor byte, build uint16) {
	n := ucs2(progName)
	r.begin(tokLoginAck)
	r.w.u16(uint16(1 + 4 + 1 + len(n) + 4))
	r.w.u8(1) // SQL_TSQL
	r.w.Write([]byte{0x74, 0x00, 0x00, 0x04})
	r.w.bvarchar(progName)
	r.w.Write([]byte{major, minor, byte(build >> 8), byte(build)})
}

func (r *reply) packetSize(size int) {
	s := strconv.Itoa(size)
	r.envChange(envPacketSize, s, s)
}

func (r *reply) returnStatus(status int32) {
	r.begin(tokReturnStatus)
	r.w.u32(uint32(status))
}

// column is one result column: its name and wire type.
type column struct {
	name string
	typ  colType
}

func (r *reply) colMetadata(cols []column) {
	r.begin(tokColMetadata)
	r.w.u16(uint16(len(cols)))
	for _, c := range cols {
		r.w.u32(0) // UserType
		r.w.u16(1) // Flags: nullable
		c.typ.writeTypeInfo(r.w)
		r.w.bvarchar(c.name)
	}
}

// row writes a ROW; values are already converted to the column types.
func (r *reply) row(cols []column, vals []any) {
	r.begin(tokRow)
	for i, c := range cols {
		c.typ.writeValue(r.w, vals[i])
	}
}

// returnValue writes the value of an OUTPUT parameter.
func (r *reply) returnValue(ordinal uint16, name string, typ colType, v any) {
	r.begin(tokReturnValue)
	r.w.u16(ordinal)
	r.w.bvarchar(name)
	r.w.u8(1) // output parameter
	r.w.u32(0)
	r.w.u16(1)
	typ.writeTypeInfo(r.w)
	typ.writeValue(r.w, v)
}
