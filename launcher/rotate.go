package launcher

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/local"
)

// rotator watches the resolved secrets and proposes a new plan to the
// supervisor when the child's view (env or files) would really change.
// It never touches the child; the supervisor acts on its proposals.
type rotator struct {
	log     *slog.Logger
	fetcher *resolve.Fetcher
	m       *Manifest
	prof    *Profile
	environ []string
	getenv  func(string) string
	dirPath string
	rot     Rotation
	// extraEnv is what ward adds for systemd (NOTIFY_SOCKET, LISTEN_FDS).
	extraEnv []string

	// current is the running child's plan, values the values behind it.
	current *Plan
	values  map[string]resolve.Value
	// ending holds the lease ids that can no longer be renewed, with when
	// that was noticed: the next refresh reads those documents again.
	ending map[string]time.Time
	// kept cancels the keepers of the leases being renewed, by lease id.
	kept map[string]context.CancelFunc

	triggers  chan string
	proposals chan *proposal
}

// proposal is a new plan for the supervisor to apply.
type proposal struct {
	plan         *Plan
	values       map[string]resolve.Value
	changed      []string
	envChanged   bool
	filesChanged bool
	// done receives whether the child now runs with plan.
	done chan bool
}

const (
	minBackoff = time.Second
	maxBackoff = 2 * time.Minute
)

func newRotator(o RunOptions, dirPath string, extraEnv []string, plan *Plan, values map[string]resolve.Value) *rotator {
	return &rotator{extraEnv: extraEnv,
		log: o.Log, fetcher: o.Fetcher, m: o.Manifest, prof: o.Profile,
		environ: o.Environ, getenv: o.Getenv, dirPath: dirPath, rot: o.Manifest.Rotation,
		current: plan, values: values,
		ending:    map[string]time.Time{},
		kept:      map[string]context.CancelFunc{},
		triggers:  make(chan string, 64),
		proposals: make(chan *proposal),
	}
}

// refs returns the manifest's references (profile applied).
func (r *rotator) refs() map[string]resolve.Ref {
	return Refs(r.m.EnvFor(r.prof), r.m.FilesFor(r.prof))
}

// watchDelay is how long after the start ward waits before it watches
// files. Closing an inotify instance costs the exiting process about 10 ms
// (the kernel waits out an RCU grace period), which a short-lived command
// (ward run -- make) should not pay; a check right after the watch starts
// catches any change made in between.
const watchDelay = 100 * time.Millisecond

// run watches until ctx ends.
func (r *rotator) run(ctx context.Context) {
	startWatch := time.After(watchDelay)
	r.pollIfNeeded(ctx)
	r.keepLeases(ctx, r.values)

	var pending *proposal
	var debounce <-chan time.Time
	var retry <-chan time.Time
	backoff := time.Duration(0)
	refresh := func(reason string) {
		next, err := r.refresh(ctx, pending)
		if err != nil {
			if backoff == 0 {
				backoff = minBackoff
			} else {
				backoff = min(backoff*2, maxBackoff)
			}
			wait := jitter(backoff, 0.2)
			r.log.Warn("cannot refresh secrets; the child keeps running on what it has", "reason", reason, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())
			r.checkExpired(ctx)
			retry = time.After(wait)
			return
		}
		if backoff != 0 {
			r.log.Info("secrets refresh recovered")
		}
		backoff, retry = 0, nil
		if pending != nil && next != pending {
			r.dropLeases(ctx, pending.values, next)
		}
		pending = next
		if pending == nil {
			debounce = nil
			return
		}
		if debounce == nil {
			debounce = time.After(r.rot.Debounce)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-startWatch:
			startWatch = nil
			if r.watchFiles(ctx) {
				refresh("watch started")
			}
		case reason := <-r.triggers:
			r.noteTrigger(reason)
			refresh(reason)
		case <-retry:
			refresh("retry")
		case <-debounce:
			debounce = nil
			p := pending
			pending = nil
			select {
			case r.proposals <- p:
			case <-ctx.Done():
				return
			}
			var applied bool
			select {
			case applied = <-p.done:
			case <-ctx.Done():
				return
			}
			if !applied {
				r.dropLeases(ctx, p.values, nil)
				continue
			}
			old := r.values
			r.current, r.values = p.plan, p.values
			// The child no longer uses the old leases: give them back.
			r.dropLeases(ctx, old, &proposal{values: p.values})
			r.keepLeases(ctx, p.values)
		}
	}
}

// refresh reads what may have changed: everything but the leased
// documents whose lease is still good. It returns a proposal when the
// child's view would change, nil when it would not.
func (r *rotator) refresh(ctx context.Context, pending *proposal) (*proposal, error) {
	base := r.values
	refs := map[string]resolve.Ref{}
	kept := map[string]resolve.Value{}
	for name, ref := range r.refs() {
		if v, ok := base[name]; ok && v.Lease != nil {
			if _, ending := r.ending[v.Lease.ID]; !ending {
				kept[name] = v
				continue
			}
		}
		refs[name] = ref
	}
	fetched, err := r.fetcher.Fetch(ctx, refs)
	if err != nil {
		return nil, err
	}
	for name, v := range kept {
		fetched[name] = v
	}
	plan, err := BuildPlan(r.m, r.prof, fetched, r.environ, r.dirPath, r.extraEnv...)
	if err != nil {
		return nil, err
	}
	changed, envChanged, filesChanged := r.current.Changed(plan)
	if !envChanged && !filesChanged {
		r.log.Debug("secrets checked: the child's environment and files would not change")
		r.dropLeases(ctx, fetched, &proposal{values: r.values})
		return nil, nil
	}
	return &proposal{plan: plan, values: fetched, changed: changed, envChanged: envChanged, filesChanged: filesChanged, done: make(chan bool, 1)}, nil
}

// checkExpired reports leases that ended while their store is down.
func (r *rotator) checkExpired(ctx context.Context) {
	for _, v := range r.values {
		if v.Lease == nil {
			continue
		}
		since, ok := r.ending[v.Lease.ID]
		if !ok || time.Since(since) < v.Lease.TTL {
			continue
		}
		r.log.Error("a dynamic secret's lease has expired and cannot be replaced while its store is down", "name", v.Name, "ref", v.Ref.Raw, "on_expired", r.rot.OnExpired)
		if r.rot.OnExpired == "stop" {
			select {
			case r.proposals <- nil:
			case <-ctx.Done():
			}
		}
	}
}

// keepLeases renews every lease in values that is not renewed yet; when
// one can no longer be renewed, the next refresh reads it again.
func (r *rotator) keepLeases(ctx context.Context, values map[string]resolve.Value) {
	for _, v := range values {
		if v.Lease == nil || v.Lease.ID == "" {
			continue
		}
		if _, ok := r.kept[v.Lease.ID]; ok {
			continue
		}
		store, err := r.fetcher.Stores(v.Ref.Scheme)
		if err != nil {
			continue
		}
		keeper, ok := store.(resolve.LeaseKeeper)
		if !ok {
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		r.kept[v.Lease.ID] = cancel
		lease := v.Lease
		go func() {
			if err := keeper.KeepLease(lctx, lease); err != nil {
				return
			}
			select {
			case r.triggers <- "lease ending:" + lease.ID:
			case <-lctx.Done():
			}
		}()
	}
}

// dropLeases revokes the leases in old that next (nil: none) does not use.
func (r *rotator) dropLeases(ctx context.Context, old map[string]resolve.Value, next *proposal) {
	inUse := map[string]bool{}
	if next != nil {
		for _, v := range next.values {
			if v.Lease != nil {
				inUse[v.Lease.ID] = true
			}
		}
	}
	done := map[string]bool{}
	for _, v := range old {
		if v.Lease == nil || inUse[v.Lease.ID] || done[v.Lease.ID] {
			continue
		}
		done[v.Lease.ID] = true
		if cancel, ok := r.kept[v.Lease.ID]; ok {
			cancel()
			delete(r.kept, v.Lease.ID)
		}
		delete(r.ending, v.Lease.ID)
		store, err := r.fetcher.Stores(v.Ref.Scheme)
		if err != nil {
			continue
		}
		if keeper, ok := store.(resolve.LeaseKeeper); ok {
			if err := keeper.Revoke(ctx, v.Lease); err != nil {
				r.log.Warn("cannot revoke an old lease", "ref", v.Ref.Raw, "error", err.Error())
			} else {
				r.log.Debug("old lease revoked", "ref", v.Ref.Raw)
			}
		}
	}
}

// noteTrigger records a lease that is ending before a refresh.
func (r *rotator) noteTrigger(reason string) {
	if id, ok := strings.CutPrefix(reason, "lease ending:"); ok {
		r.ending[id] = time.Now()
	}
}

// pollIfNeeded polls the stores that cannot push changes (Vault KV, AWS)
// every rotation.poll with rotation.jitter.
func (r *rotator) pollIfNeeded(ctx context.Context) {
	need := false
	for _, ref := range r.refs() {
		switch ref.Scheme {
		case "vault", "awssm", "ssm":
			need = true
		}
	}
	if !need {
		return
	}
	go func() {
		for {
			t := time.NewTimer(jitter(r.rot.Poll, r.rot.Jitter))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			select {
			case r.triggers <- "poll":
			case <-ctx.Done():
				return
			}
		}
	}()
}

// watchFiles watches the local store file and the file:// and creds://
// paths. Directories are watched, not files: stores and Kubernetes replace
// files by rename. It reports whether anything is watched.
func (r *rotator) watchFiles(ctx context.Context) bool {
	dirs := map[string]map[string]bool{}
	add := func(path string) {
		dir, base := filepath.Split(filepath.Clean(path))
		if dirs[dir] == nil {
			dirs[dir] = map[string]bool{}
		}
		dirs[dir][base] = true
	}
	for _, ref := range r.refs() {
		switch ref.Scheme {
		case "local":
			if s, err := local.Open(r.getenv); err == nil {
				add(s.Path)
			}
		case "file":
			add(ref.Path)
		case "creds":
			if d := r.getenv("CREDENTIALS_DIRECTORY"); d != "" {
				add(filepath.Join(d, ref.Path))
			}
		}
	}
	if len(dirs) == 0 {
		return false
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("cannot watch secret files for changes", "error", err.Error())
		return false
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := w.Add(d); err != nil {
			r.log.Warn("cannot watch a directory for secret changes", "dir", d, "error", err.Error())
		}
	}
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				dir, base := filepath.Split(ev.Name)
				bases := dirs[dir]
				// Kubernetes swaps a ..data symlink; other names are ours.
				if bases == nil || !bases[base] && !strings.HasPrefix(base, "..") {
					continue
				}
				select {
				case r.triggers <- "file changed: " + ev.Name:
				case <-ctx.Done():
					return
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				r.log.Warn("file watch error", "error", err.Error())
			}
		}
	}()
	return true
}

// jitter spreads d by up to ±frac.
func jitter(d time.Duration, frac float64) time.Duration {
	if frac <= 0 {
		return d
	}
	f := 1 + frac*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// versions describes where changed values came from, for the log line.
func versions(values map[string]resolve.Value, names []string) []string {
	var out []string
	for _, n := range names {
		v, ok := values[n]
		if !ok {
			continue
		}
		s := v.Ref.Scheme
		if v.Version != "" {
			s += " " + v.Version
		}
		if v.Lease != nil {
			s += " (new lease)"
		}
		out = append(out, n+"="+s)
	}
	return out
}
