package manifest

import (
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// fromUTF16 reads a file saved as UTF-16 with its byte order mark
// (Windows PowerShell's `>` writes one, Notepad's "Unicode"): its text as
// UTF-8, with the mark written as UTF-8's, and which byte order it had.
// ok is false for a file without such a mark. yaml.v3 reads UTF-16 on
// its own, but the checks made on the bytes before it (raw line
// separators, control characters) saw none of it: a U+2028 hid a line
// from editors there, and reached the child as a variable.
func fromUTF16(data []byte) (text []byte, bigEndian, ok bool, err error) {
	var order binary.ByteOrder
	switch {
	case len(data) >= 2 && data[0] == 0xFF && data[1] == 0xFE:
		order = binary.LittleEndian
	case len(data) >= 2 && data[0] == 0xFE && data[1] == 0xFF:
		order, bigEndian = binary.BigEndian, true
	default:
		return data, false, false, nil
	}
	if len(data)%2 != 0 {
		return nil, bigEndian, true, errors.New("an odd number of bytes")
	}
	units := make([]uint16, 0, len(data)/2)
	for i := 0; i < len(data); i += 2 {
		units = append(units, order.Uint16(data[i:]))
	}
	for i := 0; i < len(units); i++ {
		switch u := units[i]; {
		case utf16.IsSurrogate(rune(u)) && u < 0xDC00 && i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] < 0xE000:
			i++
		case utf16.IsSurrogate(rune(u)):
			return nil, bigEndian, true, errors.New("half of a character (an unpaired surrogate)")
		}
	}
	text = make([]byte, 0, len(data)*3/2)
	for _, r := range utf16.Decode(units) {
		text = utf8.AppendRune(text, r)
	}
	return text, bigEndian, true, nil
}

// toUTF16 writes UTF-8 text (starting with its byte order mark) back as
// UTF-16 in the byte order the file had.
func toUTF16(text []byte, bigEndian bool) []byte {
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	units := utf16.Encode([]rune(string(text)))
	out := make([]byte, 2*len(units))
	for i, u := range units {
		order.PutUint16(out[2*i:], u)
	}
	return out
}
