package mssqltest

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// colType is a SQL Server type the fake sends. SQLite values are mapped to
// one of these from the column's declared type or, for expressions, from the
// values themselves.
type colType uint8

const (
	typNVarChar  colType = iota // NVARCHAR(MAX), sent as PLP
	typBigInt                   // BIGINT
	typInt                      // INT
	typSmallInt                 // SMALLINT
	typTinyInt                  // TINYINT
	typBit                      // BIT
	typFloat                    // FLOAT
	typVarBinary                // VARBINARY(MAX), sent as PLP
	typGUID                     // UNIQUEIDENTIFIER
	typDateTime2                // DATETIME2(7)
)

// TDS type ids ([MS-TDS] 2.2.5.4).
const (
	tdsNull           = 0x1F
	tdsInt1           = 0x30
	tdsBit            = 0x32
	tdsInt2           = 0x34
	tdsInt4           = 0x38
	tdsDateTim4       = 0x3A
	tdsFlt4           = 0x3B
	tdsMoney          = 0x3C
	tdsDateTime       = 0x3D
	tdsFlt8           = 0x3E
	tdsMoney4         = 0x7A
	tdsInt8           = 0x7F
	tdsGUID           = 0x24
	tdsIntN           = 0x26
	tdsDecimal        = 0x37
	tdsNumeric        = 0x3F
	tdsBitN           = 0x68
	tdsDecimalN       = 0x6A
	tdsNumericN       = 0x6C
	tdsFltN           = 0x6D
	tdsMoneyN         = 0x6E
	tdsDateTimeN      = 0x6F
	tdsDateN          = 0x28
	tdsTimeN          = 0x29
	tdsDateTime2N     = 0x2A
	tdsDateTimeOffset = 0x2B
	tdsChar           = 0x2F
	tdsVarChar        = 0x27
	tdsBinary         = 0x2D
	tdsVarBinary      = 0x25
	tdsBigVarBin      = 0xA5
	tdsBigVarChar     = 0xA7
	tdsBigBinary      = 0xAD
	tdsBigChar        = 0xAF
	tdsNVarChar       = 0xE7
	tdsNChar          = 0xEF
	tdsXML            = 0xF1
	tdsText           = 0x23
	tdsImage          = 0x22
	tdsNText          = 0x63
)

const (
	plpNull       = math.MaxUint64
	plpChunk      = 8000
	datetime2Size = 8
)

// collation is SQL_Latin1_General_CP1_CI_AS; go-mssqldb ignores it for
// NVARCHAR but TYPE_INFO requires one.
var collation = []byte{0x09, 0x04, 0xD0, 0x00, 0x34}

func (t colType) String() string {
	return [...]string{"nvarchar(max)", "bigint", "int", "smallint", "tinyint", "bit", "float",
		"varbinary(max)", "uniqueidentifier", "datetime2"}[t]
}

func (t colType) intSize() int {
	switch t {
	case typBigInt:
		return 8
	case typInt:
		return 4
	case typSmallInt:
		return 2
	}
	return 1
}

func (t colType) writeTypeInfo(w *packetWriter) {
	switch t {
	case typNVarChar:
		w.u8(tdsNVarChar)
		w.u16(0xFFFF)
		w.Write(collation)
	case typVarBinary:
		w.u8(tdsBigVarBin)
		w.u16(0xFFFF)
	case typBigInt, typInt, typSmallInt, typTinyInt:
		w.u8(tdsIntN)
		w.u8(byte(t.intSize()))
	case typBit:
		w.u8(tdsBitN)
		w.u8(1)
	case typFloat:
		w.u8(tdsFltN)
		w.u8(8)
	case typGUID:
		w.u8(tdsGUID)
		w.u8(16)
	case typDateTime2:
		w.u8(tdsDateTime2N)
		w.u8(7)
	}
}

// writeValue writes v, which convert has already shaped for t.
func (t colType) writeValue(w *packetWriter, v any) {
	if v == nil {
		if t == typNVarChar || t == typVarBinary {
			w.u64(plpNull)
		} else {
			w.u8(0)
		}
		return
	}
	switch t {
	case typNVarChar:
		writePLP(w, ucs2(v.(string)))
	case typVarBinary:
		writePLP(w, v.([]byte))
	case typBigInt, typInt, typSmallInt, typTinyInt:
		n := t.intSize()
		w.u8(byte(n))
		x := uint64(v.(int64))
		for i := range n {
			w.u8(byte(x >> (8 * i)))
		}
	case typBit:
		w.u8(1)
		if v.(bool) {
			w.u8(1)
		} else {
			w.u8(0)
		}
	case typFloat:
		w.u8(8)
		w.u64(math.Float64bits(v.(float64)))
	case typGUID:
		g := v.([16]byte)
		w.u8(16)
		w.Write(g[:])
	case typDateTime2:
		w.u8(datetime2Size)
		w.Write(encodeDateTime2(v.(time.Time)))
	}
}

func writePLP(w *packetWriter, b []byte) {
	w.u64(uint64(len(b)))
	for len(b) > 0 {
		n := min(len(b), plpChunk)
		w.u32(uint32(n))
		w.Write(b[:n])
		b = b[n:]
	}
	w.u32(0)
}

var dayZero = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// encodeDateTime2 encodes the wall clock of t as DATETIME2(7): 100 ns ticks
// since midnight in 5 bytes, then days since 0001-01-01 in 3 bytes.
func encodeDateTime2(t time.Time) []byte {
	y, m, d := t.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	days := (day.Unix() - dayZero.Unix()) / 86400
	ticks := (int64(t.Hour())*3600+int64(t.Minute())*60+int64(t.Second()))*1e7 + int64(t.Nanosecond())/100
	b := make([]byte, 8)
	for i := range 5 {
		b[i] = byte(ticks >> (8 * i))
	}
	for i := range 3 {
		b[5+i] = byte(days >> (8 * i))
	}
	return b
}

// typeFromDecl maps a SQLite declared column type to a wire type.
func typeFromDecl(decl string) (colType, bool) {
	d := strings.ToUpper(decl)
	switch {
	case d == "":
		return 0, false
	case strings.Contains(d, "UNIQUEIDENTIFIER"):
		return typGUID, true
	case d == "BIT" || d == "BOOLEAN" || d == "BOOL":
		return typBit, true
	case strings.Contains(d, "BIGINT"), d == "INTEGER":
		return typBigInt, true
	case strings.Contains(d, "SMALLINT"):
		return typSmallInt, true
	case strings.Contains(d, "TINYINT"):
		return typTinyInt, true
	case strings.Contains(d, "INT"):
		return typInt, true
	case strings.Contains(d, "DATE"), strings.Contains(d, "TIMESTAMP"):
		return typDateTime2, true
	case strings.Contains(d, "CHAR"), strings.Contains(d, "TEXT"), strings.Contains(d, "CLOB"), d == "SYSNAME", d == "XML":
		return typNVarChar, true
	case strings.Contains(d, "BINARY"), strings.Contains(d, "BLOB"), d == "IMAGE":
		return typVarBinary, true
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"),
		strings.Contains(d, "DECIMAL"), strings.Contains(d, "NUMERIC"), strings.Contains(d, "MONEY"):
		return typFloat, true
	}
	return 0, false
}

// typeFromValue maps a value SQLite returned to a wire type.
func typeFromValue(v any) (colType, bool) {
	switch v.(type) {
	case int64:
		return typBigInt, true
	case float64:
		return typFloat, true
	case string:
		return typNVarChar, true
	case []byte:
		return typVarBinary, true
	case bool:
		return typBit, true
	case time.Time:
		return typDateTime2, true
	}
	return 0, false
}

// convert shapes v for t as SQL Server's implicit conversion would, or
// returns a conversion error (245, 8115, 8169, 241).
func convert(t colType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case typNVarChar:
		return formatValue(v), nil
	case typVarBinary:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case typBigInt, typInt, typSmallInt, typTinyInt:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case float64:
			n = int64(x)
		case bool:
			if x {
				n = 1
			}
		case string:
			p, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, sqlErrorf(ErrNumConversion, "Conversion failed when converting the nvarchar value '%s' to data type %s.", x, t)
			}
			n = p
		default:
			return nil, convError(v, t)
		}
		bits := 8 * t.intSize()
		if t == typTinyInt && (n < 0 || n > 255) || t != typTinyInt && bits < 64 && (n < -1<<(bits-1) || n >= 1<<(bits-1)) {
			return nil, sqlErrorf(8115, "Arithmetic overflow error converting expression to data type %s.", t)
		}
		return n, nil
	case typBit:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "1", "true":
				return true, nil
			case "0", "false":
				return false, nil
			}
		}
	case typFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	case typGUID:
		switch x := v.(type) {
		case string:
			if g, ok := parseGUID(x); ok {
				return g, nil
			}
			return nil, sqlErrorf(8169, "Conversion failed when converting from a character string to uniqueidentifier.")
		case []byte:
			if len(x) == 16 {
				var g [16]byte
				copy(g[:], x)
				return g, nil
			}
		}
	case typDateTime2:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			if tm, ok := parseTime(x); ok {
				return tm, nil
			}
			return nil, sqlErrorf(241, "Conversion failed when converting date and/or time from character string.")
		}
	}
	return nil, convError(v, t)
}

func convError(v any, t colType) error {
	return sqlErrorf(ErrNumConversion, "Conversion failed when converting the value '%s' to data type %s.", formatValue(v), t)
}

// formatValue renders v as text, the way CONVERT(nvarchar, v) would.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case []byte:
		return string(x)
	case time.Time:
		return x.Format("2006-01-02 15:04:05.0000000")
	case [16]byte:
		return formatGUID(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC3339Nano,
}

// parseTime reads the text forms SQLite and the fake store times in.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseGUID parses "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" (braces allowed)
// into SQL Server's wire layout: the first three groups little-endian.
func parseGUID(s string) ([16]byte, bool) {
	var g [16]byte
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return g, false
	}
	copy(g[:], b)
	reverse(g[0:4])
	reverse(g[4:6])
	reverse(g[6:8])
	return g, true
}

// formatGUID is the inverse of parseGUID, upper case as SQL Server prints.
func formatGUID(g [16]byte) string {
	b := g
	reverse(b[0:4])
	reverse(b[4:6])
	reverse(b[6:8])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}
