package session

import (
	"encoding/binary"
	"errors"
	"time"
)

// A stored session value (an entry) is the record with what the backend
// indexes and orders it by. Both backends store the same bytes:
//
//	v2: 0xff, 8 bytes expiry, 8 bytes last activity (unix nanoseconds,
//	    big-endian), 2 bytes length + subject, 2 bytes length + sid, record
//	v1: 8 bytes expiry, 2 bytes length + subject, 2 bytes length + sid, record
//
// v1 entries are still read (a v1 expiry is a positive int64, so its first
// byte is below 0x80); every write stores v2. The Redis scripts read the
// subject and sid of both (luaEntry in redis.go).
const entryV2 = 0xff

func encodeEntry(m Meta, val []byte) []byte {
	buf := make([]byte, 0, 21+len(m.Subject)+len(m.SID)+len(val))
	buf = append(buf, entryV2)
	buf = binary.BigEndian.AppendUint64(buf, uint64(m.Expires.UnixNano()))
	var seen int64
	if !m.LastSeen.IsZero() {
		seen = m.LastSeen.UnixNano()
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(seen))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(m.Subject)))
	buf = append(buf, m.Subject...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(m.SID)))
	buf = append(buf, m.SID...)
	return append(buf, val...)
}

var errCorrupt = errors.New("corrupt session entry")

// decodeEntry reads an entry; the Value aliases b.
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	exp, ok := entryExpiry(b)
	if !ok {
		return e, errCorrupt
	}
	e.Expires = time.Unix(0, exp)
	if b[0] == entryV2 {
		if seen := int64(binary.BigEndian.Uint64(b[9:])); seen != 0 {
			e.LastSeen = time.Unix(0, seen)
		}
		b = b[17:]
	} else {
		b = b[8:]
	}
	if len(b) < 4 {
		return e, errCorrupt
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n+2 {
		return e, errCorrupt
	}
	e.Subject = string(b[2 : 2+n])
	b = b[2+n:]
	n = int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return e, errCorrupt
	}
	e.SID = string(b[2 : 2+n])
	e.Value = b[2+n:]
	return e, nil
}

// entryExpiry reads only an entry's expiry (unix nanoseconds), for sweeping
// without decoding the rest.
func entryExpiry(b []byte) (int64, bool) {
	switch {
	case len(b) >= 21 && b[0] == entryV2:
		return int64(binary.BigEndian.Uint64(b[1:])), true
	case len(b) >= 12 && b[0] < 0x80:
		return int64(binary.BigEndian.Uint64(b)), true
	}
	return 0, false
}
