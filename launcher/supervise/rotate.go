package supervise

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sync/errgroup"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/remote"
)

// rotator watches the resolved secrets and proposes a new plan to the
// supervisor when the child's view (env or files) would really change.
// It never touches the child; the supervisor acts on its proposals.
type rotator struct {
	log     *slog.Logger
	fetcher *resolve.Fetcher
	reg     *resolve.Registry
	m       *manifest.Manifest
	prof    *manifest.Profile
	input   plan.Input
	rot     manifest.Rotation
	// argv is the program's, which execve takes with the environment.
	argv []string

	// current is the running child's plan, values the values behind it.
	current *plan.Plan
	values  map[string]resolve.Value
	// ending holds the lease ids that can no longer be renewed, with when
	// each ends: the next refresh reads those documents again.
	ending map[string]time.Time
	// kept cancels the keepers of the leases being renewed, by lease id.
	kept map[string]context.CancelFunc
	// versionsRefused records the schemes whose version reads failed
	// once (other than by an outage: a helper's death, reads that failed
	// too), so that the fallback to reading values is logged once.
	versionsRefused sync.Map

	triggers chan trigger
	// proposals go to the supervisor; stops ask it to stop the child
	// (a lease expired with its store down and on_expired: stop).
	proposals chan *proposal
	stops     chan string
	// drops carries the values whose leases a signalled child has had
	// stop_timeout to let go of (see dropLater).
	drops chan map[string]resolve.Value
	// stopAsked is set once the supervisor was asked to stop the child.
	stopAsked bool
	// varFailure is each variable's last failed read, as checkExpired
	// saw it: what its end is logged with.
	varFailure map[string]string
	// endSaid holds the ends checkExpired has logged at error, by
	// variable and lease or expiry: each failed retry that follows is no
	// news (an outage of an hour logged the same error every retry).
	endSaid map[string]bool
	// unreadable holds, by variable, the stamp its watched file had when
	// its last read failed (a name removed from the local store, a file
	// that cannot be read), or when the value read could not be given to
	// the child (see buildOver): the debounce's last look (movedFiles)
	// does not take a change it already failed at for one made since.
	unreadable map[string]string
	// failure is the last refresh's error while refreshes fail: what an
	// expiry then reports as the reason the value was not replaced (a
	// store that is down, or a new value the child cannot be given).
	failure error
	// masker, under --mask, masks the values of what is pending as soon
	// as they are read, not once the debounce has ended: the child may
	// print a new value before (read from a file:// source it shares),
	// and ward knew it (see masker.maskEarly).
	masker *masker
}

// trigger is why the rotator looks again.
type trigger struct {
	kind triggerKind
	// lease is the lease that can no longer be renewed (leaseEnding),
	// and ends when it ends.
	lease string
	ends  time.Time
	// path is the file that changed (fileChanged).
	path string
}

type triggerKind int

const (
	// poll: rotation.poll elapsed; read the polled stores.
	poll triggerKind = iota
	// fileChanged: a watched file changed; read what it holds.
	fileChanged
	// watchStarted: the watch began; read what changed since the start.
	watchStarted
	// leaseEnding: a lease can no longer be renewed; read its secret.
	leaseEnding
	// expiring: a value that expires without a lease (an access token)
	// is two thirds into its lifetime; read it again.
	expiring
	// retry: a refresh failed; try what it tried again.
	retry
	// stampCheck: rotation.poll elapsed; look at the watched files'
	// stamps, for a change their watch could not see.
	stampCheck
)

func (t trigger) String() string {
	switch t.kind {
	case poll:
		return "poll"
	case fileChanged:
		return "file changed: " + t.path
	case watchStarted:
		return "watch started"
	case leaseEnding:
		return "lease ending"
	case expiring:
		return "credentials expiring"
	case stampCheck:
		return "files looked at"
	}
	return "retry"
}

// proposal is a new plan for the supervisor to apply.
type proposal struct {
	plan         *plan.Plan
	values       map[string]resolve.Value
	changed      []string
	envChanged   bool
	filesChanged bool
	// done receives whether the child now runs with plan; signalled is
	// set before it when the child was signalled rather than restarted.
	done      chan bool
	signalled bool
	// staged is a restart's new files, written before the old child was
	// stopped (see supervisor.apply).
	staged *secretdir.Staged
}

const (
	minBackoff = time.Second
	maxBackoff = 2 * time.Minute
)

func newRotator(o Options, in plan.Input, p *plan.Plan, values map[string]resolve.Value) *rotator {
	return &rotator{
		log: o.Log, fetcher: o.Fetcher, reg: o.Registry, m: o.Manifest, prof: o.Profile,
		input: in, rot: o.Manifest.Rotation, argv: o.Argv,
		current: p, values: values, masker: o.masker,
		ending:     map[string]time.Time{},
		kept:       map[string]context.CancelFunc{},
		unreadable: map[string]string{},
		triggers:   make(chan trigger, 64),
		proposals:  make(chan *proposal),
		stops:      make(chan string),
		drops:      make(chan map[string]resolve.Value),
	}
}

// gatherWait is how long a lease ending (or credentials expiring) waits
// for the others that end with it, before the restart: ward and its
// helper stopped or frozen past their TTL (a laptop's lid, docker pause)
// wake to every lease ending at once, and leases read at one start reach
// their max TTL together. Their renewals fail within milliseconds of
// each other; the restart came at the first, then again at each of the
// rest (ten leases: six restarts in half a second). Short against the
// room a lease's re-read leaves (rereadRoom in the Vault store, 30 s).
const gatherWait = 250 * time.Millisecond

// gather is how long a restart for a lease that ends at ends (zero: not
// known) waits for the others (gatherWait), under the debounce: at most
// half of what is left of the lease, so that the new child runs before
// it ends. A 2 s lease's renewal refused "past the max TTL" (Vault
// counts the max TTL in whole seconds, and a renewal that answered the
// whole increment can be the last) left 0.2 s, and the restart came
// 250 ms after the re-read, past the lease's end: the old child's
// login failed.
func gather(debounce time.Duration, ends, now time.Time) time.Duration {
	wait := min(debounce, gatherWait)
	if !ends.IsZero() {
		wait = min(wait, max(ends.Sub(now), 0)/2)
	}
	return wait
}

// leaseReadGrace is how long past a lease's end its re-read may still
// answer before the refresh gives up on it: the child's credentials have
// ended, and the end is reported then (checkExpired), not once a store
// that took the request and never answers (a stalled proxy, a
// partitioned network) has spent its whole timeout.
const leaseReadGrace = time.Second

// maxSettle bounds the debounce, in debounces from the first change: a
// secret rewritten with new content more often than the debounce (a
// misbehaving agent) still reaches the child.
const maxSettle = 10

// changedAgain reports whether next gives the child another view than
// prev, the proposal it replaces.
func changedAgain(prev, next *proposal) bool {
	_, env, files := prev.plan.Changed(next.plan)
	return env || files
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
	// settleBy is the latest the debounce may end, however long the
	// changes go on; urgent holds it at once (a lease ending).
	var settleBy time.Time
	urgent := false
	settle := func() time.Duration { return max(min(r.rot.Debounce, time.Until(settleBy)), 0) }
	var retryAt <-chan time.Time
	var failed []trigger
	var retryWhen time.Time
	var lastExpiring time.Time
	backoff := time.Duration(0)
	// retrying is set while the failed triggers are tried again.
	retrying := false
	// warned is set once a failure since the last recovery was warned of.
	warned := false
	// warnedStep holds the failures warned of since the retry was set:
	// a file:// secret removed fails its file's trigger and the poll's
	// look at the files alike, and each retry read it for both. It was
	// warned of twice a step, the same error under two reasons.
	warnedStep := map[string]bool{}
	// A poll reads its stores beside the loop, each scheme's one at a
	// time (polling), and each reading comes back on polls as it ends: a
	// store that takes the requests and answers none (a stalled proxy, a
	// partitioned network) held the loop for its request timeout (a
	// minute by default for Vault), and with it every other store's
	// change, a file's that the child was waiting for too; then, read
	// as one poll, every other polled store's (a Vault change waited 20 s
	// for a slow Google Secret Manager, 39 s for a stopped ward-aws).
	// pollFailed holds each scheme's failed poll until one works.
	polling, pollFailed := map[string]bool{}, map[string]error{}
	polls := make(chan polledRead, 1)
	var took func(t trigger, next *proposal, read bool, err error)
	var apply func(t trigger, next *proposal)
	refresh := func(t trigger) {
		if t.kind == poll {
			a, retried := r.startRead(pending, t), retrying
			parts := a.byScheme()
			for scheme := range pollFailed {
				if parts[scheme] == nil {
					// Nothing of its store is read by polls now (what
					// failed was a lease's re-read, since done another
					// way): an empty read ends its failure, as a poll
					// with nothing to read did; it stayed failed, and
					// retried, for good.
					parts[scheme] = &aRead{r: r, t: t, base: a.base, candidates: map[string]resolve.Ref{}, schemes: []string{scheme}}
				}
			}
			var started []*aRead
			for scheme, part := range parts {
				// The poll under way reads what this one would; a
				// store backed off from is read by its retry. Another
				// failure being retried (a file:// secret emptied or
				// removed, for as long as it stays so) holds back no
				// poll.
				if polling[scheme] || !retrying && pollFailed[scheme] != nil {
					continue
				}
				polling[scheme] = true
				started = append(started, part)
			}
			if len(started) > 0 {
				go r.pollRound(ctx, started, retried, polls)
			}
			return
		}
		readCtx := ctx
		if end, ok := r.ending[t.lease]; ok && t.kind == leaseEnding && time.Now().Before(end) {
			// The loop waits for the read: bounded by the lease's end,
			// so that a store that never answers holds back the report
			// of that end (and on_expired: stop) by a second, not by a
			// request timeout (a minute for Vault's default).
			var cancel context.CancelFunc
			readCtx, cancel = context.WithDeadline(ctx, end.Add(leaseReadGrace))
			defer cancel()
		}
		next, read, err := r.refresh(readCtx, pending, t)
		took(t, next, read, err)
	}
	// took takes what a refresh for t read: what is pending, the
	// debounce, and for a failure the retry and its warning.
	took = func(t trigger, next *proposal, read bool, err error) {
		if err != nil {
			r.failure = err
			// Each trigger once: the retry reads each again once, not
			// once per failure of an outage.
			already := slices.Contains(failed, t)
			if !already {
				failed = append(failed, t)
			}
			r.checkExpired(ctx)
			// One retry at a time: a failure while one is set (a file
			// event, a lease ending) waits for it rather than push it
			// back.
			if retryAt == nil {
				backoff = min(max(backoff*2, minBackoff), maxBackoff)
				wait := jitter(backoff, 0.2)
				retryAt, retryWhen = time.After(wait), time.Now().Add(wait)
				clear(warnedStep)
			}
			// Logged once a step: the same failure again before its
			// retry (one change of a file is an event on the file's
			// watch and one on its directory's) is no news.
			level := slog.LevelWarn
			switch {
			case already && !retrying:
				level = slog.LevelDebug
			case t.kind == fileChanged && !retrying:
				// A file that cannot be read just as it changed is most
				// often in the middle of its writer's work: cp and a
				// shell's > empty it before they write, vim and install
				// remove it before the new one is there, Ansible renames
				// its temporary file in before it sets the owner. Its
				// retry warns if it is still so; each of those writes
				// warned, and said it had recovered a moment later.
				level = slog.LevelDebug
			}
			if level == slog.LevelWarn && warnedStep[err.Error()] {
				level = slog.LevelDebug
			}
			if level == slog.LevelWarn {
				warned = true
				warnedStep[err.Error()] = true
			}
			r.log.Log(ctx, level, "cannot refresh secrets; the child keeps running on what it has", "reason", t.String(), "retry_in", max(time.Until(retryWhen), 0).Round(time.Millisecond).String(), "error", err.Error())
			if next == pending {
				// Nothing read changes what is pending, nor the child's
				// view.
				return
			}
			// Other values read meanwhile did change it: the child gets
			// them, and keeps what it has for those that failed. Or they
			// undid what was pending (a value changed and changed back
			// within the debounce while another secret cannot be read):
			// it is dropped, as when every read works. It was kept, and
			// the child restarted with the value already undone once
			// the debounce had run ten times.
		} else {
			failed = slices.DeleteFunc(failed, func(f trigger) bool { return f == t })
			if len(failed) == 0 {
				r.failure = nil
			}
			if backoff != 0 && len(failed) == 0 {
				level := slog.LevelDebug
				if warned {
					level = slog.LevelInfo
				}
				r.log.Log(ctx, level, "secrets refresh recovered")
				backoff, warned = 0, false
			}
			if !read {
				return
			}
		}
		apply(t, next)
	}
	// apply makes next what is pending, with the debounce it calls for.
	apply = func(t trigger, next *proposal) {
		if pending != nil && next != pending {
			r.dropLeases(ctx, pending.values, next)
		}
		prev := pending
		pending = next
		if pending != nil && pending != prev && r.masker != nil {
			r.masker.maskEarly(pending.plan.Masked())
		}
		if pending == nil {
			if prev != nil {
				r.log.Debug("the secrets changed back before the debounce ended: the child keeps what it has", "reason", t.String())
			}
			debounce, urgent = nil, false
			return
		}
		switch {
		case urgent:
		case t.kind == leaseEnding || t.kind == expiring:
			// A lease is about to end, or credentials are: no debounce
			// may hold the restart past it. The others that end with it
			// are read meanwhile, for one restart (see gatherWait).
			debounce, urgent = time.After(gather(r.rot.Debounce, t.ends, time.Now())), true
		case prev == nil:
			debounce = time.After(r.rot.Debounce)
			settleBy = time.Now().Add(maxSettle * r.rot.Debounce)
		case debounce == nil || changedAgain(prev, next):
			// The debounce waits for the changes to stop: a writer that
			// takes its time (a play's copy tasks, a certificate, then
			// its key) had the child restarted half-way, with the new
			// certificate and the old key, then again. A file read again
			// and found as the proposal has it does not count, so that
			// an agent rewriting the same content holds nothing back.
			debounce = time.After(settle())
		}
	}
	take := func(t trigger) {
		if t.kind == leaseEnding {
			r.ending[t.lease] = t.ends
		}
		refresh(t)
	}
	for {
		// The values behind the next plan, or the child's: the earliest
		// of them to expire is read again first, unless a failed refresh
		// waits for its retry; and at most once a second, whatever
		// happened to the last read (a restart already under way can
		// refuse the new values).
		var expiry, expired <-chan time.Time
		if len(failed) > 0 {
			// A store is down: what ends meanwhile is reported when it
			// ends, not at the next failed retry, which the backoff may
			// hold back for minutes.
			expired = r.expiredTimer()
		}
		if retryAt == nil {
			upcoming := r.values
			if pending != nil {
				upcoming = pending.values
			}
			expiry = expiryTimer(upcoming, lastExpiring.Add(time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-expiry:
			lastExpiring = time.Now()
			refresh(trigger{kind: expiring})
		case <-startWatch:
			startWatch = nil
			if r.watchFiles(ctx) {
				refresh(trigger{kind: watchStarted})
				r.log.Debug("watching secret files for changes")
			}
		case t := <-r.triggers:
			take(t)
		case <-expired:
			r.checkExpired(ctx)
		case old := <-r.drops:
			r.dropLeases(ctx, old, pending)
		case pr := <-polls:
			// Taken as it would have been when it started: a retry's
			// failure is warned of, another poll's once a step.
			saved := retrying
			retrying = pr.retrying
			next, read, err := r.merge(ctx, pending, pr.a.t, pr.a)
			failing := map[string]bool{}
			for _, f := range pr.a.failures {
				failing[f.Ref.Scheme] = true
			}
			for _, scheme := range pr.a.schemes {
				delete(polling, scheme)
				// A failure of no store's (a value that cannot be
				// given to the child) is every scheme's of the read.
				if err != nil && (failing[scheme] || len(failing) == 0) {
					pollFailed[scheme] = err
				} else {
					delete(pollFailed, scheme)
				}
			}
			if err == nil && len(pollFailed) > 0 {
				// Another store's poll fails still: what this one read
				// is taken, and the failure is left as it stands (its
				// old error warned of again, with a longer backoff, a
				// moment before "recovered", was no news).
				if read && next != pending {
					apply(pr.a.t, next)
				}
			} else {
				took(pr.a.t, next, read, err)
			}
			retrying = saved
		case <-retryAt:
			retryAt = nil
			retrying = true
			// A poll first: it reads the documents of the leases that
			// can no longer be renewed too, and while it fails, their
			// own triggers would only read them again (a dynamic
			// secret's new credentials made and revoked twice a retry).
			round := slices.Clone(failed)
			slices.SortStableFunc(round, func(a, b trigger) int {
				switch {
				case a.kind == poll && b.kind != poll:
					return -1
				case b.kind == poll && a.kind != poll:
					return 1
				}
				return 0
			})
			for _, t := range round {
				if t.kind == leaseEnding && slices.Contains(failed, trigger{kind: poll}) && r.readByPoll(t.lease) {
					continue
				}
				refresh(t)
			}
			retrying = false
		case <-debounce:
			debounce = nil
			if !urgent && time.Now().Before(settleBy) && len(r.movedFiles(pending.values)) > 0 {
				// A file changed since it was read, and no event said so
				// (no inotify: a poll's stat found it, perhaps half
				// written by a `>` that a `>>` follows): read it again,
				// and wait for quiet again. The child got the half, and
				// kept it until the next poll.
				refresh(trigger{kind: stampCheck})
				if pending != nil && debounce == nil {
					debounce = time.After(settle())
				}
				break
			}
			if urgent {
				// What else came meanwhile joins this restart: leases
				// that ended together each came as a trigger of their
				// own, and each was a restart of the child of its own.
			drain:
				for {
					select {
					case t := <-r.triggers:
						take(t)
					default:
						break drain
					}
				}
				if pending == nil {
					urgent = false
					break
				}
			}
			urgent = false
			debounce = nil
			p := pending
			pending = nil
			if !r.propose(ctx, p) {
				return
			}
		}
	}
}

// propose hands p to the supervisor and, once applied, makes it current;
// false when ctx ended first.
func (r *rotator) propose(ctx context.Context, p *proposal) bool {
	select {
	case r.proposals <- p:
	case <-ctx.Done():
		return false
	}
	var applied bool
	select {
	case applied = <-p.done:
	case <-ctx.Done():
		return false
	}
	if !applied {
		r.dropLeases(ctx, p.values, nil)
		return true
	}
	old := r.values
	r.current, r.values = p.plan, p.values
	switch {
	case r.rot.OnChange == manifest.DoNothing:
		// The child goes on with the old values: their leases are
		// renewed while they can be, and end with their max TTL or at
		// ward's exit.
	case p.signalled:
		// The signalled child takes the new values when it handles the
		// signal, and may be in the middle of work with the old ones.
		r.dropLater(ctx, old)
	default:
		// Restarted: the old child, gone, no longer uses the old leases.
		r.dropLeases(ctx, old, &proposal{values: p.values})
	}
	r.keepLeases(ctx, p.values)
	return true
}

// dropLater gives back the leases of old that are no longer used
// stop_timeout from now: the time a signalled child has to let go of its
// old credentials, as a restarted one has to stop. Revoked the moment the
// signal was sent, they failed the work the child had in flight with
// them. Until then they are renewed; ward's exit revokes them with the
// others. Only the values with a lease are held: a goroutine and a copy of
// every secret for each signal, held stop_timeout, added up with a file
// rotated often.
func (r *rotator) dropLater(ctx context.Context, old map[string]resolve.Value) {
	old = maps.Clone(old)
	maps.DeleteFunc(old, func(_ string, v resolve.Value) bool { return v.Lease == nil })
	if len(old) == 0 {
		return
	}
	go func() {
		t := time.NewTimer(r.rot.StopTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		select {
		case r.drops <- old:
		case <-ctx.Done():
		}
	}()
}

// refresh reads again what t says may have changed, keeping every other
// value, and returns a proposal when the child's view would change (nil
// when it would not; pending, unchanged, when nothing could be read or
// the plan cannot be built). read reports whether anything was read at all. A
// value that cannot be read fails the refresh, but not the others read
// with it: the proposal holds them, and the child's value for the one
// that failed (a secret disabled or deleted in one store held back every
// other's rotation for as long as it stayed so).
func (r *rotator) refresh(ctx context.Context, pending *proposal, t trigger) (next *proposal, read bool, err error) {
	return r.merge(ctx, pending, t, r.startRead(pending, t).read(ctx))
}

// aRead is a refresh's reading of its stores: what startRead chose, on
// the rotator's side, to be read by read, which touches none of the
// rotator's state and may run beside it (see run's polls).
type aRead struct {
	r          *rotator
	t          trigger
	base       map[string]resolve.Value
	candidates map[string]resolve.Ref
	// schemes are the schemes of a poll's candidates (see byScheme, and
	// joinReads).
	schemes []string
	// Set by read.
	same        map[resolve.Key]bool
	versionErrs map[string]error
	refs        map[string]resolve.Ref
	fetched     map[string]resolve.Value
	failures    []resolve.VarError
}

// polledRead is a poll's reading, back from its stores; retrying is
// whether the poll was a failure's retry.
type polledRead struct {
	a        *aRead
	retrying bool
}

// startRead chooses what a refresh for t reads, as of pending.
func (r *rotator) startRead(pending *proposal, t trigger) *aRead {
	base := r.values
	if pending != nil {
		base = pending.values
	}
	candidates := map[string]resolve.Ref{}
	for name, ref := range r.m.Refs(r.prof) {
		if r.stale(t, ref, base[name]) {
			candidates[name] = ref
		}
	}
	return &aRead{r: r, t: t, base: base, candidates: candidates}
}

// byScheme splits a read into one for each scheme of its candidates.
func (a *aRead) byScheme() map[string]*aRead {
	parts := map[string]*aRead{}
	for name, ref := range a.candidates {
		p := parts[ref.Scheme]
		if p == nil {
			p = &aRead{r: a.r, t: a.t, base: a.base, candidates: map[string]resolve.Ref{}, schemes: []string{ref.Scheme}}
			parts[ref.Scheme] = p
		}
		p.candidates[name] = ref
	}
	return parts
}

// pollGather is how long a poll's round waits, after its first store's
// read came back, for the others': what they read comes back together,
// for one restart, and a store slower than that holds back no other's.
const pollGather = 2 * time.Second

// pollRound reads parts, one scheme's each, beside one another, and
// sends what they read on polls: together when they all come back within
// pollGather of the first, else what came back by then, and each of the
// others when it does. Sent one by one, changes of several stores read
// in one poll restarted the child once for each store.
func (r *rotator) pollRound(ctx context.Context, parts []*aRead, retried bool, polls chan<- polledRead) {
	done := make(chan *aRead, len(parts))
	for _, p := range parts {
		go func() { done <- p.read(ctx) }()
	}
	var got []*aRead
	var gather <-chan time.Time
	flushed := false
	for left := len(parts); left > 0; {
		select {
		case p := <-done:
			left--
			got = append(got, p)
			if !flushed && left > 0 {
				if gather == nil {
					gather = time.After(pollGather)
				}
				continue
			}
		case <-gather:
			flushed, gather = true, nil
		case <-ctx.Done():
			return
		}
		if len(got) == 0 {
			continue
		}
		select {
		case polls <- polledRead{joinReads(got), retried}:
		case <-ctx.Done():
			return
		}
		got = nil
	}
}

// joinReads makes one read of several schemes' reads of one poll.
func joinReads(parts []*aRead) *aRead {
	if len(parts) == 1 {
		return parts[0]
	}
	j := &aRead{r: parts[0].r, t: parts[0].t, base: parts[0].base, candidates: map[string]resolve.Ref{}, same: map[resolve.Key]bool{}, versionErrs: map[string]error{}, refs: map[string]resolve.Ref{}, fetched: map[string]resolve.Value{}}
	for _, p := range parts {
		j.schemes = append(j.schemes, p.schemes...)
		maps.Copy(j.candidates, p.candidates)
		maps.Copy(j.same, p.same)
		maps.Copy(j.versionErrs, p.versionErrs)
		maps.Copy(j.refs, p.refs)
		maps.Copy(j.fetched, p.fetched)
		j.failures = append(j.failures, p.failures...)
	}
	return j
}

// read asks the stores: for a poll, which versions are the child's, then
// the values of the rest.
func (a *aRead) read(ctx context.Context) *aRead {
	if len(a.candidates) == 0 {
		return a
	}
	if a.t.kind == poll {
		base := a.base
		if a.schemes != nil {
			// Only its own store's versions: another's that answers
			// nothing held this one's poll for its request timeout.
			base = maps.Clone(base)
			maps.DeleteFunc(base, func(_ string, v resolve.Value) bool { return !slices.Contains(a.schemes, v.Ref.Scheme) })
		}
		a.same, a.versionErrs = a.r.unchangedVersions(ctx, base)
	}
	a.refs = map[string]resolve.Ref{}
	for name, ref := range a.candidates {
		if !a.same[ref.Key()] {
			a.refs[name] = ref
		}
	}
	if len(a.refs) > 0 {
		a.fetched, a.failures = a.r.fetcher.FetchAvailable(ctx, a.refs)
	}
	return a
}

// merge makes refresh's result of what a read, over pending as it is
// now: a read that ran beside the rotator (a poll) finds what changed
// meanwhile, and adds to it.
func (r *rotator) merge(ctx context.Context, pending *proposal, t trigger, a *aRead) (next *proposal, read bool, err error) {
	base := r.values
	if pending != nil {
		base = pending.values
	}
	if len(a.refs) == 0 {
		if len(a.same) > 0 {
			r.log.Debug("secrets polled: every version is the one the child has, nothing read", "reason", t.String(), "checked", len(a.same))
		}
		return pending, false, nil
	}
	fetched, failures := a.fetched, a.failures
	if failures != nil {
		err = &resolve.FetchError{Failures: failures}
	}
	r.noteUnreadable(base, fetched, failures)
	r.versionsFailed(a.versionErrs, err)
	if len(fetched) == 0 {
		// Nothing read: what is pending stands.
		return pending, true, err
	}
	p, values, kept, buildErr := r.buildOver(base, fetched)
	if p == nil {
		return pending, true, errors.Join(err, buildErr)
	}
	if buildErr != nil {
		err = errors.Join(err, buildErr)
		r.holdBack(ctx, base, values, kept)
		fetched = maps.Clone(fetched)
		maps.DeleteFunc(fetched, func(name string, _ resolve.Value) bool { _, ok := kept[name]; return ok })
	}
	changed, envChanged, filesChanged := r.current.Changed(p)
	if !envChanged && !filesChanged {
		r.log.Debug("secrets read again: the child's environment and files would not change", "reason", t.String(), "read", len(fetched))
		r.dropLeases(ctx, fetched, &proposal{values: base})
		r.adoptVersions(fetched)
		return nil, true, err
	}
	return &proposal{plan: p, values: values, changed: changed, envChanged: envChanged, filesChanged: filesChanged, done: make(chan bool, 1)}, true, err
}

// buildOver builds the plan of base with fetched over it. Where that
// plan cannot be built (a new value the child cannot be given: a NUL
// byte, a file's base64 that is not, a template that fails over it, an
// environment grown past what execve passes), the child keeps base's
// values of the documents whose new values fail it, and gets the rest:
// one value that cannot be delivered holds back no other, as one that
// cannot be read holds back none. kept holds the fetched values held
// back, and err says why; p is nil only when base itself cannot be built.
func (r *rotator) buildOver(base, fetched map[string]resolve.Value) (p *plan.Plan, values, kept map[string]resolve.Value, err error) {
	values = maps.Clone(base)
	maps.Copy(values, fetched)
	if p, err = r.build(values); err == nil {
		return p, values, nil, nil
	}
	// Document by document, in a fixed order: the fields of one
	// document (a dynamic secret's username and password, under one
	// lease) go to the child together or not at all.
	docs := map[resolve.Key][]string{}
	for name, v := range fetched {
		docs[v.Ref.Key()] = append(docs[v.Ref.Key()], name)
	}
	order := slices.SortedFunc(maps.Keys(docs), func(a, b resolve.Key) int {
		return strings.Compare(slices.Min(docs[a]), slices.Min(docs[b]))
	})
	values = maps.Clone(base)
	if p, err = r.build(values); err != nil {
		return nil, nil, nil, err
	}
	kept = map[string]resolve.Value{}
	var errs []error
	for _, k := range order {
		names := docs[k]
		try := maps.Clone(values)
		for _, name := range names {
			try[name] = fetched[name]
		}
		next, err := r.build(try)
		if err != nil {
			slices.Sort(names)
			errs = append(errs, fmt.Errorf("%w (the child keeps what it has of %s)", err, strings.Join(names, ", ")))
			for _, name := range names {
				kept[name] = fetched[name]
			}
			// What the child has, not a value pending from earlier in
			// the debounce that the one held back has replaced: the
			// store no longer holds that one (F1 written b, then b's
			// successor with a NUL: the child was restarted with b).
			back := maps.Clone(values)
			for _, name := range names {
				if v, ok := r.values[name]; ok {
					back[name] = v
				}
			}
			if next, err := r.build(back); err == nil {
				p, values = next, back
			}
			continue
		}
		p, values = next, try
	}
	return p, values, kept, errors.Join(errs...)
}

// holdBack deals with the values buildOver held back: their new leases
// serve nothing, nor do those of the values pending from earlier for
// them (base's), which the child's replaced in values; a file held back
// is read again at the retry, not at each look at the files before a
// restart of the others (see movedFiles).
func (r *rotator) holdBack(ctx context.Context, base, values, kept map[string]resolve.Value) {
	drop := maps.Clone(kept)
	for name := range kept {
		if v, ok := base[name]; ok {
			drop["pending "+name] = v
		}
	}
	r.dropLeases(ctx, drop, &proposal{values: values})
	for name, v := range kept {
		if v.File != nil {
			r.unreadable[name] = v.File.Stamp
		}
	}
}

// build makes the plan a restarted child would have, refusing one
// execve would not take: a value grown past what an environment variable
// may hold, or an environment grown past what the kernel passes. Such a
// plan is a refresh that failed (the child keeps running on what it has),
// not a restart that stops the child and then cannot start it (126,
// "argument list too long", naming nothing).
func (r *rotator) build(values map[string]resolve.Value) (*plan.Plan, error) {
	p, err := plan.Build(r.m, r.prof, values, r.input)
	if err != nil {
		return nil, err
	}
	if err := plan.CheckDeliverable(p.Env, r.argv); err != nil {
		return nil, fmt.Errorf("the new values cannot be given to the child: %w: %s", err, plan.UndeliverableHint)
	}
	return p, nil
}

// noteUnreadable records the stamps of the watched files whose values
// failed to be read, and forgets those read since (see unreadable).
func (r *rotator) noteUnreadable(base, fetched map[string]resolve.Value, failures []resolve.VarError) {
	for name := range fetched {
		delete(r.unreadable, name)
	}
	for _, f := range failures {
		if v, ok := base[f.Name]; ok && v.File != nil {
			r.unreadable[f.Name] = resolve.StampFile(v.File.Path)
		}
	}
}

// freshen reads again the watched values of p whose files changed since
// they were read: a file edited while the old child took its time to
// stop. The new child then starts with them, rather than with values
// already replaced (perhaps revoked), and a second restart at once. It
// runs while the rotator waits for p to be applied, on the supervisor's
// side, so it reads only regular files (a stat, then the read of a file
// or of the local store), never what could block (a FIFO); a value that
// cannot be read is kept as p has it, for the rotator's next refresh to
// retry, and holds back none of the others (a name removed from the
// local store made every value changed during a stop wait for a second
// restart).
func (r *rotator) freshen(ctx context.Context, p *proposal) {
	refs := r.movedFiles(p.values)
	if len(refs) == 0 {
		return
	}
	fetched, failures := r.fetcher.FetchAvailable(ctx, refs)
	r.noteUnreadable(p.values, fetched, failures)
	if failures != nil {
		r.log.Debug("cannot read again some files changed while the old child stopped; the new child starts with what was read before for those", "error", (&resolve.FetchError{Failures: failures}).Error())
	}
	if len(fetched) == 0 {
		return
	}
	next, values, kept, err := r.buildOver(p.values, fetched)
	if next == nil {
		return
	}
	if err != nil {
		r.log.Warn("a file changed while the old child stopped holds a value the child cannot be given; the new child starts with what the old one had of it", "error", err.Error())
		r.holdBack(ctx, p.values, values, kept)
	}
	if changed, _, _ := r.current.Changed(next); len(changed) > 0 {
		p.changed = changed
	}
	p.plan, p.values = next, values
}

// movedFiles returns the references of values read from watched files
// that changed since: a stat, of regular files only, never what could
// block (a FIFO). An empty file is left out: its writer (cp, a shell's >)
// has yet to write it, or it was emptied, which its refresh reports. So
// is a value whose read failed at the file as it is (see unreadable):
// its failure is being retried, and the local store's file, which every
// ref of the store shares, moved at each change of another name, so
// that the debounce's last look read it again, failed, and waited
// again, ten debounces in all, at every change while it stayed so.
func (r *rotator) movedFiles(values map[string]resolve.Value) map[string]resolve.Ref {
	refs := map[string]resolve.Ref{}
	for name, ref := range r.m.Refs(r.prof) {
		v, ok := values[name]
		if s := r.reg.Scheme(ref.Scheme); !ok || v.File == nil || s == nil || s.Refresh != resolve.Watched {
			continue
		}
		st, err := os.Stat(v.File.Path)
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			continue
		}
		if stamp := resolve.Stamp(st); stamp != v.File.Stamp && stamp != r.unreadable[name] {
			refs[name] = ref
		}
	}
	return refs
}

// untilQuiet is how long until every watched file of values that changed
// since it was read (see movedFiles) has gone unchanged for
// rotation.debounce, by its modification time; 0 when all have.
func (r *rotator) untilQuiet(values map[string]resolve.Value) time.Duration {
	var wait time.Duration
	for name := range r.movedFiles(values) {
		if st, err := os.Stat(values[name].File.Path); err == nil {
			wait = max(wait, time.Until(st.ModTime().Add(r.rot.Debounce)))
		}
	}
	return wait
}

// adoptVersions records the versions of values read again that change
// nothing for the child (a new version with the same data): the next poll
// compares with them, and reads that document again only when it moves
// once more. Leased values are not adopted: their leases were given back.
// An expiring value read again and found the same (a credential source
// that caches its token) is adopted too, so that it is next read two
// thirds into what is left of its lifetime, not at once.
func (r *rotator) adoptVersions(fetched map[string]resolve.Value) {
	var values map[string]resolve.Value
	for name, v := range fetched {
		old, ok := r.values[name]
		if !ok || v.Lease != nil || old.Version == v.Version && v.Expires.IsZero() {
			continue
		}
		if values == nil {
			values = maps.Clone(r.values)
		}
		values[name] = v
	}
	if values != nil {
		r.values = values
	}
}

// stale reports whether the value v of ref must be read again for t.
func (r *rotator) stale(t trigger, ref resolve.Ref, v resolve.Value) bool {
	refresh := resolve.Static
	if s := r.reg.Scheme(ref.Scheme); s != nil {
		refresh = s.Refresh
	}
	switch t.kind {
	case poll:
		if refresh != resolve.Polled {
			return false
		}
		// A leased secret is renewed, not polled, until its lease ends.
		if v.Lease != nil {
			_, ending := r.ending[v.Lease.ID]
			return ending
		}
		return polled(v)
	case leaseEnding:
		return v.Lease != nil && v.Lease.ID == t.lease
	case expiring:
		return v.Lease == nil && !v.Expires.IsZero() && due(v)
	case fileChanged, watchStarted, stampCheck, retry:
		if refresh != resolve.Watched {
			return t.kind == retry && refresh == resolve.Polled && polled(v)
		}
		// Read again only what a file changed under: same stamp, same
		// content.
		return v.File == nil || resolve.StampFile(v.File.Path) != v.File.Stamp
	}
	return false
}

// readByPoll reports whether a poll reads the document of lease again:
// it can no longer be renewed, and its store is polled.
func (r *rotator) readByPoll(lease string) bool {
	for name, ref := range r.m.Refs(r.prof) {
		if v, ok := r.values[name]; ok && v.Lease != nil && v.Lease.ID == lease && r.stale(trigger{kind: poll}, ref, v) {
			return true
		}
	}
	return false
}

// polled reports whether a poll reads v again. Every read of an expiring
// value is a new one: it is read again when due, not at each poll. One
// with a version is the same until the store replaces it (a static
// credential Vault rotates on a schedule, or at once when asked): it is
// polled as well.
func polled(v resolve.Value) bool {
	return v.Expires.IsZero() || due(v) || v.Version != ""
}

// refreshAt is when a value that expires without a lease (an access
// token, STS credentials) is read again: two thirds into the lifetime it
// had when read, as Vault Agent renews, and at least a second after that
// read.
func refreshAt(v resolve.Value) time.Time {
	// On the wall clock, as Expires is: Read's monotonic reading stands
	// still while a laptop sleeps.
	read := v.Read.Round(0)
	return read.Add(max(v.Expires.Sub(read)*2/3, time.Second))
}

// due reports whether the expiring value v is to be read again.
func due(v resolve.Value) bool { return !time.Now().Before(refreshAt(v)) }

// expiryTimer fires when the first of values that expire without a lease
// is due to be read again, and not before notBefore, or expiryRecheck
// before then; nil when none expires.
func expiryTimer(values map[string]resolve.Value, notBefore time.Time) <-chan time.Time {
	d, ok := expiryWait(values, notBefore)
	if !ok {
		return nil
	}
	return time.After(d)
}

// expiryRecheck bounds a wait for an expiring value. Timers run on the
// monotonic clock, which stands still while a laptop sleeps: a value due
// during a night's suspend would otherwise be read a night after the
// resume. A wait that ends early reads nothing, and is looked at again.
const expiryRecheck = time.Minute

// expiryWait is expiryTimer's wait; false when no value expires.
func expiryWait(values map[string]resolve.Value, notBefore time.Time) (time.Duration, bool) {
	var first time.Time
	for _, v := range values {
		if v.Lease != nil || v.Expires.IsZero() {
			continue
		}
		if at := refreshAt(v); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	if first.IsZero() {
		return 0, false
	}
	if first.Before(notBefore) {
		first = notBefore
	}
	return min(time.Until(first), expiryRecheck), true
}

// unchangedVersions asks the polled stores that can tell versions cheaply
// (a metadata read, no payload: GCP's versions.get) which version each
// document names now, and returns the documents whose version is the one
// the child has. A store that cannot answer is simply read; its first
// error, by scheme, is returned too. An expiring value with a version (a
// static credential) has no cheaper read: it is read. So is a document
// whose variables hold values of different versions: one of its fields
// could not be read, or given to the child, at its latest version (a
// KV field removed), and another could; which version stood for the
// document was the map's choice, and a poll that compared the newer one
// read nothing, took the failure for mended ("recovered") and warned
// again at the next.
func (r *rotator) unchangedVersions(ctx context.Context, values map[string]resolve.Value) (same map[resolve.Key]bool, failed map[string]error) {
	docs := map[resolve.Key]resolve.Value{}
	mixed := map[resolve.Key]bool{}
	for _, v := range values {
		if s := r.reg.Scheme(v.Ref.Scheme); s != nil && s.Refresh == resolve.Polled && v.Lease == nil && v.Version != "" && v.Expires.IsZero() {
			k := v.Ref.Key()
			if d, ok := docs[k]; ok && d.Version != v.Version {
				mixed[k] = true
			}
			docs[k] = v
		}
	}
	maps.DeleteFunc(docs, func(k resolve.Key, _ resolve.Value) bool { return mixed[k] })
	same, failed = map[resolve.Key]bool{}, map[string]error{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(resolve.DefaultConcurrency)
	for k, v := range docs {
		versioner, ok := r.versioner(v.Ref.Scheme)
		if !ok {
			continue
		}
		g.Go(func() error {
			ver, err := versioner.Version(ctx, v.Ref.Document())
			switch {
			case err == nil || ctx.Err() != nil:
			case errors.Is(err, remote.ErrHelperDied):
				// An outage, not a store that cannot tell versions: this
				// poll reads the values, the next asks for versions again.
				r.log.Debug("a version read failed: the store's helper died; this poll reads the values", "scheme", v.Ref.Scheme, "error", err.Error())
			default:
				mu.Lock()
				if _, ok := failed[v.Ref.Scheme]; !ok {
					failed[v.Ref.Scheme] = err
				}
				mu.Unlock()
			}
			if err == nil && ver == v.Version {
				mu.Lock()
				same[k] = true
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	return same, failed
}

// versionsFailed logs, once a scheme, that its store cannot tell
// versions, when the poll's reads worked: the reason may be a missing
// metadata permission (GCP's roles/secretmanager.viewer), and polls still
// work, by reading values. A version read that failed as the reads did
// (Vault sealed or down) was the outage's, which the failed refresh
// reports.
func (r *rotator) versionsFailed(failed map[string]error, readErr error) {
	for scheme, err := range failed {
		if readErr != nil {
			r.log.Debug("a version read failed, and so did the reads: an outage", "scheme", scheme, "error", err.Error())
			continue
		}
		if _, logged := r.versionsRefused.LoadOrStore(scheme, true); !logged {
			r.log.Info("cannot read secret versions; polls read the values instead", "scheme", scheme, "error", err.Error())
		}
	}
}

// versioner returns the store of scheme as a Versioner, when it is one
// that answers cheaply.
func (r *rotator) versioner(scheme string) (resolve.Versioner, bool) {
	store, err := r.fetcher.Stores(scheme)
	if err != nil {
		return nil, false
	}
	v, ok := store.(resolve.Versioner)
	if h, remote := store.(interface{ HasVersions() bool }); ok && remote && !h.HasVersions() {
		return nil, false
	}
	return v, ok
}

// checkExpired reports leases that ended, and credentials that expired,
// while the refreshes that would replace them fail: their store is down,
// or what it gives the child cannot be given (see buildOver), as the
// last failure says. It said "while its store is down" of a store that
// answered.
func (r *rotator) checkExpired(ctx context.Context) {
	cause, why := "the refreshes that would replace them fail", "its refreshes fail"
	var attrs []any
	var fe *resolve.FetchError
	if r.failure != nil {
		attrs = append(attrs, "error", r.failure.Error())
		if errors.As(r.failure, &fe) {
			cause, why = "its store cannot be read", "its store cannot be read"
			if r.varFailure == nil {
				r.varFailure = map[string]string{}
			}
			for i := range fe.Failures {
				r.varFailure[fe.Failures[i].Name] = fe.Failures[i].Error()
			}
		} else {
			cause, why = "the new value cannot be given to the child", "its new value cannot be given to the child"
		}
	}
	for _, v := range r.values {
		attrs := attrs
		if own, ok := r.varFailure[v.Name]; ok && fe != nil {
			// The variable's own last failure: another's (a KV poll's,
			// in a later refresh) was quoted for a lease's end.
			attrs = []any{"error", own}
		}
		what, reason := "a dynamic secret's lease has expired and cannot be replaced: "+cause, "the lease of "+v.Ref.Raw
		switch {
		case v.Lease != nil:
			end, ok := r.ending[v.Lease.ID]
			if !ok || time.Now().Before(end) {
				continue
			}
		case !v.Expires.IsZero() && time.Now().After(v.Expires):
			what, reason = "credentials have expired and cannot be replaced: "+cause, "the credentials of "+v.Ref.Raw
		default:
			continue
		}
		line := append([]any{"name", v.Name, "ref", v.Ref.Raw, "on_expired", string(r.rot.OnExpired)}, attrs...)
		end := v.Name + "\x00" + v.Expires.String()
		if v.Lease != nil {
			end = v.Name + "\x00" + v.Lease.ID
		}
		if r.endSaid[end] {
			r.log.Debug(what, line...)
		} else {
			if r.endSaid == nil {
				r.endSaid = map[string]bool{}
			}
			r.endSaid[end] = true
			r.log.Error(what, line...)
		}
		if r.rot.OnExpired == manifest.StopChild && !r.stopAsked {
			// Once: the child's other expired values (a lease's second
			// field) would only send it the stop signal again.
			r.stopAsked = true
			select {
			case r.stops <- reason + " expired and " + why + " (on_expired: stop)":
			case <-ctx.Done():
			}
		}
	}
}

// expiredTimer fires when the next of the child's leases that can no
// longer be renewed, or of its credentials, ends; nil when none is to
// end.
func (r *rotator) expiredTimer() <-chan time.Time {
	var first time.Time
	for _, v := range r.values {
		end := v.Expires
		if v.Lease != nil {
			end = r.ending[v.Lease.ID]
		}
		if !end.IsZero() && time.Now().Before(end) && (first.IsZero() || end.Before(first)) {
			first = end
		}
	}
	if first.IsZero() {
		return nil
	}
	return time.After(time.Until(first))
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
		keeper, ok := leaseKeeper(r.fetcher, v.Ref.Scheme)
		if !ok {
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		r.kept[v.Lease.ID] = cancel
		// Looked at each poll: a lease an operator revoked is read again
		// then, not at its next renewal.
		lease := &resolve.Lease{ID: v.Lease.ID, TTL: v.Lease.TTL, Renewable: v.Lease.Renewable, Check: r.rot.Poll}
		go func() {
			ends, err := keeper.KeepLease(lctx, lease)
			if err != nil {
				return
			}
			if ends.IsZero() {
				// A store that cannot say: at most the lease's TTL is
				// left.
				ends = time.Now().Add(lease.TTL)
			}
			select {
			case r.triggers <- trigger{kind: leaseEnding, lease: lease.ID, ends: ends}:
			case <-lctx.Done():
			}
		}()
	}
}

// leaseKeeper is the store of scheme, when it has leases.
func leaseKeeper(f *resolve.Fetcher, scheme string) (resolve.LeaseKeeper, bool) {
	store, err := f.Stores(scheme)
	if err != nil {
		return nil, false
	}
	k, ok := store.(resolve.LeaseKeeper)
	return k, ok
}

// dropLeases revokes the leases in old that next (nil: none) does not use.
func (r *rotator) dropLeases(ctx context.Context, old map[string]resolve.Value, next *proposal) {
	// The running child's leases are never given back here: a pending
	// proposal dropped (its change undone before the debounce ended, or
	// refused) holds them too, and revoking them took the credentials the
	// child was using, with nothing to replace them.
	inUse := map[string]bool{}
	for _, v := range r.values {
		if v.Lease != nil {
			inUse[v.Lease.ID] = true
		}
	}
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
		revokeLease(ctx, r.fetcher, r.log, v, "old lease")
	}
}

// revokeLease gives v's lease back through its store; what names the lease
// in the log. A lease that cannot be revoked ends with its TTL. A lease
// revoked is logged by its store, once.
func revokeLease(ctx context.Context, f *resolve.Fetcher, log *slog.Logger, v resolve.Value, what string) {
	keeper, ok := leaseKeeper(f, v.Ref.Scheme)
	if !ok {
		return
	}
	if err := keeper.Revoke(ctx, v.Lease); err != nil {
		if ctx.Err() != nil {
			// ward is stopping: its store still holds the lease and
			// revokes it as it closes (unless revoke_on_exit is off). A
			// warning per lease said "context canceled" of a lease that
			// was then revoked.
			log.Debug("revocation of the "+what+" left to the store's close: ward is stopping", "ref", v.Ref.Raw)
			return
		}
		log.Warn("cannot revoke the "+what, "ref", v.Ref.Raw, "error", err.Error())
	}
}

// pollIfNeeded polls the stores that cannot push changes every
// rotation.poll with rotation.jitter, and looks at the watched files'
// stamps as often: a watch can miss a change (no inotify instance left to
// make one, a file system that reports nothing), and a stat is cheap. The
// two are refreshes of their own, so that a file that cannot be read
// holds back no polled store's change.
func (r *rotator) pollIfNeeded(ctx context.Context) {
	var kinds []triggerKind
	for _, ref := range r.m.Refs(r.prof) {
		s := r.reg.Scheme(ref.Scheme)
		switch {
		case s == nil:
		case s.Refresh == resolve.Polled && !slices.Contains(kinds, poll):
			kinds = append(kinds, poll)
		case s.Refresh == resolve.Watched && !slices.Contains(kinds, stampCheck):
			kinds = append(kinds, stampCheck)
		}
	}
	if len(kinds) == 0 {
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
			for _, k := range kinds {
				select {
				case r.triggers <- trigger{kind: k}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
}

// watchFiles watches the files the watched secrets were read from.
// Their directories are watched (stores and Kubernetes replace files by
// rename; see watchPoints), and the files too (see watchContents). It
// reports whether anything is watched.
func (r *rotator) watchFiles(ctx context.Context) bool {
	var paths []string
	for _, v := range r.values {
		if v.File != nil && !slices.Contains(paths, v.File.Path) {
			paths = append(paths, v.File.Path)
		}
	}
	if len(paths) == 0 {
		return false
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("cannot watch secret files for changes; they are looked at every rotation.poll instead", "poll", r.rot.Poll.String(), "error", err.Error())
		return false
	}
	dirs := watchPoints(paths)
	own := map[string]bool{}
	for _, p := range paths {
		own[filepath.Dir(filepath.Clean(p))] = true
	}
	ws := &watches{w: w, at: map[string]fileID{}}
	for _, d := range deepestFirst(dirs) {
		switch err := ws.rewatch(d); {
		case err == nil:
		case own[d]:
			r.log.Warn("cannot watch a directory for secret changes; its files are looked at every rotation.poll", "dir", d, "poll", r.rot.Poll.String(), "error", watchError(err))
		default:
			r.log.Debug("cannot watch a directory above a secret's file; its replacement is seen at rotation.poll", "dir", d, "error", watchError(err))
		}
	}
	ws.watchContents(paths)
	go r.relayEvents(ctx, ws, paths, dirs)
	return true
}

// watchError says why a watch was refused. The kernel's ENOSPC means the
// user's inotify watches are used up, not a full disk, which is what
// "no space left on device" alone would make anyone look for.
func watchError(err error) string {
	if errors.Is(err, syscall.ENOSPC) {
		return "the limit on inotify watches is reached (fs.inotify.max_user_watches, shared by every program of the user): " + err.Error()
	}
	return err.Error()
}

// relayEvents turns the watcher's events on files the secrets came from
// into triggers.
func (r *rotator) relayEvents(ctx context.Context, ws *watches, paths []string, dirs map[string]map[string]bool) {
	w := ws.w
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
			bases := dirs[filepath.Clean(dir)]
			// Kubernetes swaps a ..data symlink; other names are ours.
			if bases == nil || !bases[base] && !strings.HasPrefix(base, "..") {
				continue
			}
			dirs = ws.rewatchAll(paths, dirs)
			select {
			case r.triggers <- trigger{kind: fileChanged, path: ev.Name}:
			case <-ctx.Done():
				return
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				r.log.Warn("file watch error", "error", err.Error())
				continue
			}
			// More happened in the watched directories than the kernel
			// queues (fs.inotify.max_queued_events; ward stopped or
			// frozen meanwhile, a deploy unpacking thousands of files
			// beside a secret): the events past the queue are lost, a
			// secret's change among them perhaps. Every watched file is
			// looked at again, as a poll does; the child kept the old
			// value until then, with a warning it could not act on.
			r.log.Debug("the file watch's event queue overflowed; the watched files are looked at again", "error", err.Error())
			dirs = ws.rewatchAll(paths, dirs)
			select {
			case r.triggers <- trigger{kind: stampCheck}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// rewatchAll watches what paths lead to now and returns its watch
// points (see watchPoints), dirs being those watched so far. A link may
// lead somewhere else now (a release directory swapped), or a name hold
// a new directory (the old one moved aside): what is there is watched
// before the refresh reads, so that a change made after that read is an
// event. The directories the paths no longer pass through are let go,
// and those still named are watched again as files are (see rewatch): a
// release kept after the swap, or a directory moved aside, held its
// watch for good, one more each rotation, until the user's inotify
// watches ran out.
//
// Deepest first, then again, shallowest first, each that could not be
// watched: a directory made after its own try, while its parent's watch
// was being made anew (the parent a new one too), told nobody, and was
// never watched (2 runs in 1,050 of a directory removed and made again:
// the next value was never seen).
func (ws *watches) rewatchAll(paths []string, dirs map[string]map[string]bool) map[string]map[string]bool {
	now := watchPoints(paths)
	for d := range dirs {
		if now[d] == nil {
			ws.w.Remove(d)
			delete(ws.at, d)
		}
	}
	var missing []string
	for _, d := range deepestFirst(now) {
		if ws.rewatch(d) != nil {
			missing = append(missing, d)
		}
	}
	for _, d := range slices.Backward(missing) {
		ws.rewatch(d)
	}
	ws.watchContents(paths)
	return now
}

// deepestFirst lists the watch points' directories, the deepest first:
// where inotify watches are few (fs.inotify.max_user_watches, shared by
// every program of the user), those of the files themselves get them, and
// the directories above, added in name order, took them: "/" first.
func deepestFirst(dirs map[string]map[string]bool) []string {
	out := slices.Collect(maps.Keys(dirs))
	slices.SortFunc(out, func(a, b string) int {
		if c := strings.Count(b, "/") - strings.Count(a, "/"); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}

// watchContents watches the files at paths themselves, besides their
// directories: a file bind-mounted on its own (Docker Compose's secrets,
// docker run -v /host/token:/run/secrets/token) and rewritten in place
// through the host's path tells nothing to a watch on the directory it
// is mounted in, only to one on the file. A path that cannot be watched
// (gone for the moment) is left to its directory's watch.
func (ws *watches) watchContents(paths []string) {
	for _, p := range paths {
		ws.rewatch(p)
	}
}

// watches is the file watch and, by path, the file (device and inode)
// each watched path named when its watch was made.
type watches struct {
	w  *fsnotify.Watcher
	at map[string]fileID
}

// fileID names a file: its device and inode.
type fileID struct{ dev, ino uint64 }

// rewatch watches the file or directory path names now. The same one as
// when watched keeps its watch: adding it again is the kernel's same
// watch. Each watch was let go and made anew, and for that moment the
// directory was watched by nobody: one made in it then (a secret's
// directory made again) was never seen. Another one (a rename replaced
// it) has the old one's watch let go first: the watcher knows a watch by
// its path, so adding the path again kept the old one's watch in the
// kernel, out of its reach, while the old one lived on (a release kept,
// a directory moved aside), one more each rotation. The refresh a change
// triggers reads after the new watch is in place, so a write between
// the two is not lost.
func (ws *watches) rewatch(path string) error {
	var id fileID
	if st, err := os.Stat(path); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			id = fileID{uint64(sys.Dev), uint64(sys.Ino)}
		}
	}
	if old, ok := ws.at[path]; ok && old == id && id != (fileID{}) {
		if err := ws.w.Add(path); err == nil {
			return nil
		}
	}
	ws.w.Remove(path)
	delete(ws.at, path)
	if err := ws.w.Add(path); err != nil {
		return err
	}
	ws.at[path] = id
	return nil
}

// watchPoints returns, by directory, the names there whose change can
// change what one of paths reads: the path's own name, and each symbolic
// link on the way to the file it names with the names the links lead to
// (a link into an agent's directory, where the agent replaces the file
// by rename; a directory link swapped to a new release), and the name of
// each such directory in its parent, and of that parent in its own, up
// to the root or a directory anyone may write (see sharedDir), so that a directory removed and made again, or moved
// aside for a new tree, however far above the file, is watched again.
// Watching only the path's own directory missed all of those; watching
// its parent alone missed secrets/ replaced above secrets/tls/key (the
// watch went on in the tree moved aside).
func watchPoints(paths []string) map[string]map[string]bool {
	dirs := map[string]map[string]bool{}
	add := func(dir, base string) {
		if dirs[dir] == nil {
			dirs[dir] = map[string]bool{}
		}
		dirs[dir][base] = true
	}
	for _, p := range paths {
		todo := strings.Split(filepath.Clean(p), "/")
		cur, links := "/", 0
		for len(todo) > 0 {
			name := todo[0]
			todo = todo[1:]
			switch name {
			case "", ".":
				continue
			case "..":
				cur = filepath.Dir(cur)
				continue
			}
			next := filepath.Join(cur, name)
			st, err := os.Lstat(next)
			isLink := err == nil && st.Mode()&fs.ModeSymlink != 0
			if len(todo) == 0 || isLink {
				add(cur, name)
			}
			if !isLink {
				cur = next
				continue
			}
			target, err := os.Readlink(next)
			if links++; err != nil || links > 40 {
				break
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(strings.Split(target, "/"), todo...)
		}
	}
	for _, d := range slices.Collect(maps.Keys(dirs)) {
		// Up to, not into, the root or a directory anyone may write
		// (/tmp, /dev/shm): its churn (a build's temporary files) was
		// read event by event, and overflowed the watch's queue over and
		// over, holding a restart back for good; no one renames another
		// user's directory there.
		for ; d != "/"; d = filepath.Dir(d) {
			up := filepath.Dir(d)
			if up == "/" || sharedDir(up) {
				break
			}
			add(up, filepath.Base(d))
		}
	}
	return dirs
}

// sharedDir reports whether dir is a directory every user may write.
func sharedDir(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.Mode().Perm()&0o002 != 0
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
	sort.Strings(out)
	return out
}
