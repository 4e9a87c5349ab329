package mssqltest

import (
	"encoding/binary"
	"fmt"
)

// PRELOGIN option tokens.
const (
	preVersion    = 0
	preEncryption = 1
	preInstOpt    = 2
	preThreadID   = 3
	preMARS       = 4
	preTerminator = 0xFF

	encryptNotSup = 2
)

// preloginReply answers PRELOGIN: no encryption (ENCRYPT_NOT_SUP), no MARS.
// The fake never speaks TLS, so clients must not require encryption.
func preloginReply(w *packetWriter) error {
	opts := []struct {
		tok byte
		val []byte
	}{
		{preVersion, []byte{16, 0, 0, 1, 0, 0}},
		{preEncryption, []byte{encryptNotSup}},
		{preInstOpt, []byte{0}},
		{preThreadID, []byte{0, 0, 0, 0}},
		{preMARS, []byte{0}},
	}
	off := 5*len(opts) + 1
	var hdr, body []byte
	for _, o := range opts {
		hdr = append(hdr, o.tok)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(off+len(body)))
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(o.val)))
		body = append(body, o.val...)
	}
	hdr = append(hdr, preTerminator)
	w.Write(hdr)
	w.Write(body)
	return w.finish()
}

// checkPrelogin validates the shape of the client's PRELOGIN options.
func checkPrelogin(data []byte) error {
	for off := 0; ; off += 5 {
		if off >= len(data) {
			return fmt.Errorf("%w: PRELOGIN without terminator", ErrProtocol)
		}
		if data[off] == preTerminator {
			return nil
		}
		if off+5 > len(data) {
			return fmt.Errorf("%w: truncated PRELOGIN option", ErrProtocol)
		}
		o, n := int(binary.BigEndian.Uint16(data[off+1:])), int(binary.BigEndian.Uint16(data[off+3:]))
		if o+n > len(data) {
			return fmt.Errorf("%w: PRELOGIN option out of bounds", ErrProtocol)
		}
	}
}

// login7 holds the LOGIN7 fields the fake uses.
type login7 struct {
	packetSize int
	user       string
	password   string
	database   string
	appName    string
	integrated bool
}

const login7FixedSize = 94

// parseLogin7 decodes LOGIN7 ([MS-TDS] 2.2.6.4), undoing the password
// obfuscation: each byte was XORed with 0xA5 after swapping its nibbles.
func parseLogin7(data []byte) (login7, error) {
	var l login7
	if len(data) < login7FixedSize {
		return l, fmt.Errorf("%w: LOGIN7 of %d bytes", ErrProtocol, len(data))
	}
	l.packetSize = int(binary.LittleEndian.Uint32(data[8:]))
	l.integrated = data[25]&0x80 != 0 // OptionFlags2 fIntSecurity
	field := func(at int) ([]byte, error) {
		off, n := int(binary.LittleEndian.Uint16(data[at:])), 2*int(binary.LittleEndian.Uint16(data[at+2:]))
		if off+n > len(data) {
			return nil, fmt.Errorf("%w: LOGIN7 field at %d out of bounds", ErrProtocol, at)
		}
		return data[off : off+n], nil
	}
	text := func(at int) (string, error) {
		b, err := field(at)
		if err != nil {
			return "", err
		}
		return fromUCS2(b)
	}
	var err error
	if l.user, err = text(40); err != nil {
		return l, err
	}
	pw, err := field(44)
	if err != nil {
		return l, err
	}
	clear := make([]byte, len(pw))
	for i, b := range pw {
		x := b ^ 0xA5
		clear[i] = x<<4 | x>>4
	}
	if l.password, err = fromUCS2(clear); err != nil {
		return l, err
	}
	if l.appName, err = text(48); err != nil {
		return l, err
	}
	if l.database, err = text(68); err != nil {
		return l, err
	}
	return l, nil
}

// negotiatePacketSize clamps the client's request the way the driver does.
func negotiatePacketSize(n int) int {
	switch {
	case n == 0:
		return defaultPacketSize
	case n < minPacketSize:
		return minPacketSize
	case n > maxPacketSize:
		return maxPacketSize
	}
	return n
}
