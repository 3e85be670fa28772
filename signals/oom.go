package signals

import "sync"

// ownMemoryCgroup is found once: ward's cgroup does not change.
var ownMemoryCgroup = sync.OnceValue(OwnMemoryCgroup)

// OOMMark is how many kills the OOM killer had made in ward's memory
// cgroup when a child started. It is read in the background: finding the
// cgroup reads /proc/self/cgroup and the mount table, which every start
// would otherwise pay, and the count is wanted only when a child dies of
// SIGKILL.
type OOMMark struct {
	read  chan struct{}
	cg    *MemoryCgroup
	kills int64
}

// MarkOOM starts reading the count.
func MarkOOM() *OOMMark {
	m := &OOMMark{read: make(chan struct{})}
	go func() {
		m.cg = ownMemoryCgroup()
		m.kills = m.cg.OOMKills()
		close(m.read)
	}()
	return m
}

// KilledSince reports whether the OOM killer has killed in ward's cgroup
// since m was made, and the cgroup's memory limit ("" when it has none or
// it cannot be read).
func (m *OOMMark) KilledSince() (killed bool, limit string) {
	<-m.read
	if m.kills < 0 || m.cg.OOMKills() <= m.kills {
		return false, ""
	}
	return true, m.cg.Limit()
}
