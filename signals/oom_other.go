//go:build !linux

package signals

// MemoryCgroup is a Linux memory cgroup; there are none elsewhere.
type MemoryCgroup struct{}

// OwnMemoryCgroup is nil outside Linux.
func OwnMemoryCgroup() *MemoryCgroup { return nil }

// OOMKills is -1: unknown.
func (c *MemoryCgroup) OOMKills() int64 { return -1 }

// Limit is "": unknown.
func (c *MemoryCgroup) Limit() string { return "" }

// OOMAhead does nothing outside Linux.
func OOMAhead(pid int, margin int64) bool { return false }
