package mssqltest

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"
)

// procIDExecuteSQL is sp_executesql's well-known id; go-mssqldb sends every
// query with arguments as an RPC to it.
const procIDExecuteSQL = 10

// rpcParam is one RPC parameter, its value decoded to a Go value SQLite
// accepts: nil, int64, float64, bool, string, []byte or time.Time.
type rpcParam struct {
	name   string // "@name", or "" for positional
	output bool
	tdsTyp byte
	size   int
	value  any
}

type rpcRequest struct {
	procID   uint16 // set when the procedure is called by id
	procName string
	params   []rpcParam
}

// parseRPC decodes an RPC request. Malformed input returns ErrProtocol; a
// well-formed parameter of a type the fake does not decode returns a
// *sqlError, so the connection survives.
func parseRPC(data []byte) (rpcRequest, error) {
	var req rpcRequest
	r := &reader{b: data}
	r.skipAllHeaders()
	n := r.u16("procedure name")
	if n == 0xFFFF {
		req.procID = r.u16("procedure id")
	} else {
		req.procName = r.ucs2(int(n), "procedure name")
	}
	r.u16("option flags")
	for r.err == nil && r.left() > 0 {
		var p rpcParam
		p.name = r.bvarchar("parameter name")
		p.output = r.u8("parameter status")&0x01 != 0
		p.tdsTyp = r.u8("parameter type")
		if r.err != nil {
			break
		}
		v, err := readParamValue(r, &p)
		if err != nil {
			return req, err
		}
		p.value = v
		req.params = append(req.params, p)
	}
	return req, r.err
}

// readParamValue reads TYPE_INFO then the value of p.
func readParamValue(r *reader, p *rpcParam) (any, error) {
	switch p.tdsTyp {
	case tdsNull:
		return nil, r.err
	case tdsInt1, tdsBit, tdsInt2, tdsInt4, tdsInt8, tdsFlt4, tdsFlt8, tdsMoney, tdsMoney4, tdsDateTime, tdsDateTim4:
		p.size = fixedSize(p.tdsTyp)
		return decodeFixed(p.tdsTyp, r.bytes(p.size, "fixed value"), 0), r.err
	case tdsIntN, tdsBitN, tdsFltN, tdsMoneyN, tdsDateTimeN, tdsGUID, tdsChar, tdsVarChar, tdsBinary, tdsVarBinary,
		tdsDecimal, tdsNumeric, tdsDecimalN, tdsNumericN:
		p.size = int(r.u8("type size"))
		var scale byte
		if p.tdsTyp == tdsDecimal || p.tdsTyp == tdsNumeric || p.tdsTyp == tdsDecimalN || p.tdsTyp == tdsNumericN {
			r.u8("precision")
			scale = r.u8("scale")
		}
		n := int(r.u8("value length"))
		if n == 0 || r.err != nil {
			return nil, r.err
		}
		return decodeFixed(p.tdsTyp, r.bytes(n, "value"), scale), r.err
	case tdsDateN, tdsTimeN, tdsDateTime2N, tdsDateTimeOffset:
		var scale byte
		if p.tdsTyp != tdsDateN {
			scale = r.u8("scale")
		}
		n := int(r.u8("value length"))
		if n == 0 || r.err != nil {
			return nil, r.err
		}
		return decodeTemporal(p.tdsTyp, scale, r.bytes(n, "value"))
	case tdsBigVarBin, tdsBigVarChar, tdsBigBinary, tdsBigChar, tdsNVarChar, tdsNChar, tdsXML:
		if p.tdsTyp == tdsXML {
			if r.u8("xml schema") != 0 {
				return nil, unsupported("XML parameters bound to a schema collection")
			}
			p.size = 0xFFFF
		} else {
			p.size = int(r.u16("type size"))
		}
		if p.tdsTyp == tdsBigVarChar || p.tdsTyp == tdsBigChar || p.tdsTyp == tdsNVarChar || p.tdsTyp == tdsNChar {
			r.bytes(5, "collation")
		}
		var b []byte
		if p.size == 0xFFFF {
			b = readPLP(r)
		} else if n := r.u16("value length"); n != 0xFFFF {
			b = r.bytes(int(n), "value")
		}
		if b == nil || r.err != nil {
			return nil, r.err
		}
		return decodeText(p.tdsTyp, b)
	case tdsText, tdsNText, tdsImage:
		p.size = int(r.u32("type size"))
		if p.tdsTyp != tdsImage {
			r.bytes(5, "collation")
		}
		ptr := int(r.u8("text pointer length"))
		if ptr == 0 || r.err != nil {
			return nil, r.err
		}
		r.bytes(ptr+8, "text pointer")
		n := int(r.u32("value length"))
		b := r.bytes(n, "value")
		if r.err != nil {
			return nil, r.err
		}
		return decodeText(p.tdsTyp, b)
	}
	return nil, unsupported(fmt.Sprintf("RPC parameters of TDS type 0x%02X", p.tdsTyp))
}

// readPLP reads a partially length-prefixed value; nil means NULL.
func readPLP(r *reader) []byte {
	total := r.u64("PLP length")
	if r.err != nil || total == plpNull {
		return nil
	}
	b := []byte{}
	for r.err == nil {
		n := int(r.u32("PLP chunk"))
		if n == 0 {
			break
		}
		b = append(b, r.bytes(n, "PLP chunk")...)
	}
	return b
}

func fixedSize(t byte) int {
	switch t {
	case tdsInt1, tdsBit:
		return 1
	case tdsInt2:
		return 2
	case tdsInt4, tdsFlt4, tdsMoney4, tdsDateTim4:
		return 4
	}
	return 8
}

// decodeFixed decodes integer, float, bit, money, decimal, GUID, legacy
// char/binary and DATETIME values from their byte forms.
func decodeFixed(t byte, b []byte, scale byte) any {
	if b == nil {
		return nil
	}
	switch t {
	case tdsBit, tdsBitN:
		return b[0] != 0
	case tdsInt1, tdsInt2, tdsInt4, tdsInt8, tdsIntN:
		switch len(b) {
		case 1:
			return int64(b[0])
		case 2:
			return int64(int16(binary.LittleEndian.Uint16(b)))
		case 4:
			return int64(int32(binary.LittleEndian.Uint32(b)))
		case 8:
			return int64(binary.LittleEndian.Uint64(b))
		}
	case tdsFlt4, tdsFlt8, tdsFltN:
		switch len(b) {
		case 4:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case 8:
			return math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case tdsMoney, tdsMoney4, tdsMoneyN:
		switch len(b) {
		case 4:
			return float64(int32(binary.LittleEndian.Uint32(b))) / 10000
		case 8:
			v := int64(binary.LittleEndian.Uint32(b))<<32 | int64(binary.LittleEndian.Uint32(b[4:]))
			return float64(v) / 10000
		}
	case tdsDateTime, tdsDateTim4, tdsDateTimeN:
		switch len(b) {
		case 4:
			days, mins := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
			return time.Date(1900, 1, 1+int(days), 0, int(mins), 0, 0, time.UTC)
		case 8:
			days, ticks := int32(binary.LittleEndian.Uint32(b)), binary.LittleEndian.Uint32(b[4:])
			ns := int64(ticks) * 10_000_000 / 3 // 1/300 s
			return time.Date(1900, 1, 1+int(days), 0, 0, 0, 0, time.UTC).Add(time.Duration(ns))
		}
	case tdsDecimal, tdsNumeric, tdsDecimalN, tdsNumericN:
		mag := make([]byte, len(b)-1)
		for i := range mag {
			mag[i] = b[len(b)-1-i]
		}
		f, _ := new(big.Float).SetInt(new(big.Int).SetBytes(mag)).Float64()
		f /= math.Pow10(int(scale))
		if b[0] == 0 {
			f = -f
		}
		return f
	case tdsGUID:
		if len(b) == 16 {
			var g [16]byte
			copy(g[:], b)
			return formatGUID(g)
		}
	case tdsChar, tdsVarChar:
		return string(b)
	case tdsBinary, tdsVarBinary:
		return append([]byte{}, b...)
	}
	return nil
}

// decodeTemporal decodes DATE, TIME, DATETIME2 and DATETIMEOFFSET values.
func decodeTemporal(t byte, scale byte, b []byte) (any, error) {
	timeLen := len(b) - 3
	if t == tdsDateTimeOffset {
		timeLen -= 2
	}
	if t == tdsTimeN {
		timeLen = len(b)
	}
	if timeLen < 0 || scale > 7 || (t == tdsDateN && len(b) != 3) || timeLen > 5 {
		return nil, fmt.Errorf("%w: temporal value of %d bytes", ErrProtocol, len(b))
	}
	var ticks uint64
	for i := range timeLen {
		ticks |= uint64(b[i]) << (8 * i)
	}
	ns := int64(ticks) * int64(math.Pow10(9-int(scale)))
	if t == tdsTimeN {
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ns)), nil
	}
	d := b[timeLen:]
	days := int(d[0]) | int(d[1])<<8 | int(d[2])<<16
	v := dayZero.AddDate(0, 0, days).Add(time.Duration(ns))
	if t == tdsDateTimeOffset {
		off := int16(binary.LittleEndian.Uint16(d[3:]))
		v = v.In(time.FixedZone("", int(off)*60))
	}
	return v, nil
}

func decodeText(t byte, b []byte) (any, error) {
	switch t {
	case tdsNVarChar, tdsNChar, tdsNText, tdsXML:
		s, err := fromUCS2(b)
		return s, err
	case tdsBigVarChar, tdsBigChar, tdsText:
		return string(b), nil
	}
	return append([]byte{}, b...), nil
}

// outputType picks the wire type of a RETURNVALUE from the type the client
// declared for the parameter, so the driver can scan it into its variable.
func outputType(p rpcParam) colType {
	switch p.tdsTyp {
	case tdsInt1:
		return typTinyInt
	case tdsInt2:
		return typSmallInt
	case tdsInt4:
		return typInt
	case tdsInt8:
		return typBigInt
	case tdsIntN:
		switch p.size {
		case 1:
			return typTinyInt
		case 2:
			return typSmallInt
		case 4:
			return typInt
		}
		return typBigInt
	case tdsBit, tdsBitN:
		return typBit
	case tdsFlt4, tdsFlt8, tdsFltN, tdsMoney, tdsMoney4, tdsMoneyN, tdsDecimal, tdsDecimalN, tdsNumeric, tdsNumericN:
		return typFloat
	case tdsGUID:
		return typGUID
	case tdsBigVarBin, tdsBigBinary, tdsBinary, tdsVarBinary, tdsImage:
		return typVarBinary
	case tdsDateTime, tdsDateTim4, tdsDateTimeN, tdsDateN, tdsDateTime2N, tdsDateTimeOffset:
		return typDateTime2
	}
	return typNVarChar
}
