package secretdir

import "testing"

// TestTmpfsMagicOfEveryWordSize: statfs's f_type is the kernel's word,
// whose Go type differs by platform; ramfs's magic number has its top bit
// set, a negative int32 on 386 and arm, where the comparison with the
// untyped constant did not compile.
func TestTmpfsMagicOfEveryWordSize(t *testing.T) {
	const ramfsAsInt32 = int32(-2054924042) // 0x858458f6
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"ramfs, int32 (386, arm)", isTmpfsMagic(ramfsAsInt32), true},
		{"ramfs, uint32 (s390x)", isTmpfsMagic(uint32(0x858458f6)), true},
		{"ramfs, int64 (amd64, arm64)", isTmpfsMagic(int64(0x858458f6)), true},
		{"tmpfs, int32", isTmpfsMagic(int32(0x01021994)), true},
		{"tmpfs, int64", isTmpfsMagic(int64(0x01021994)), true},
		{"ext4, int32", isTmpfsMagic(int32(0xef53)), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: isTmpfsMagic = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
