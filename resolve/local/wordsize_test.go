package local

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// TestVersionNumbersBeyond32Bits: a store's version numbers are up to 15
// digits, which a 64-bit ward reads and writes. Where int is 32 bits (a
// ward built for 386 or armv7 reading a store a 64-bit one wrote), the
// decoder wrapped them: 4294967297 read as version 1, and 2147483648
// as a negative number. Such a store is now refused there, naming the
// largest version that ward reads; a 64-bit ward reads it as written.
func TestVersionNumbersBeyond32Bits(t *testing.T) {
	for _, big := range []string{"2147483648", "4294967297", "999999999999999"} {
		doc := newDocument()
		doc.entries["app/token"] = &entry{current: version{value: []byte("x"), number: 7, restoredFrom: 3}}
		plain := string(doc.encode())
		for _, field := range []string{"version", "restored_from"} {
			was := `"version":7`
			if field == "restored_from" {
				was = `"restored_from":3`
			}
			edited := strings.Replace(plain, was, `"`+field+`":`+big, 1)
			got, err := decodeDocument([]byte(edited))
			n, _ := strconv.ParseUint(big, 10, 64)
			if n > math.MaxInt {
				if err == nil {
					e := got.entries["app/token"].current
					t.Errorf("%s %s: read as version %d, restored from %d; want it refused (over math.MaxInt, %d)", field, big, e.number, e.restoredFrom, math.MaxInt)
				} else if !strings.Contains(err.Error(), strconv.Itoa(math.MaxInt)) {
					t.Errorf("%s %s: got error %q, want one naming the largest version read, %d", field, big, err, math.MaxInt)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %s: %v", field, big, err)
				continue
			}
			e := got.entries["app/token"].current
			read := e.number
			if field == "restored_from" {
				read = e.restoredFrom
			}
			if strconv.Itoa(read) != big {
				t.Errorf("%s %s: read as %d", field, big, read)
			}
		}
	}
}
