package identity

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Source gives fresh credentials, and takes back the ones ward no longer
// serves.
type Source interface {
	// Fetch asks for new credentials.
	Fetch(ctx context.Context) (Credentials, error)
	// Release gives back what credentials hold once they can no longer
	// be served: their Vault lease.
	Release(ctx context.Context, c Credentials) error
	// String names the source for logs: its reference.
	String() string
}

// Cache holds the credentials the endpoint serves and replaces them ahead
// of expiry: when less than the refresh margin is left (refresh_before,
// clamped to a third of their lifetime). A source that fails is retried
// with backoff; the current credentials are served until they expire,
// and never after.
type Cache struct {
	// cloud names the identity in log lines: aws, gcp, azure.
	cloud  string
	src    Source
	before time.Duration
	log    *slog.Logger
	now    func() time.Time

	// onNew hears of credentials before they are served (OnNew).
	onNew func(Credentials)
	// onExpired hears that the credentials expired while the source
	// fails (OnExpired).
	onExpired func()

	mu  sync.Mutex
	cur *Credentials
	// kick asks the refresh loop to look now: a request found the
	// credentials due (a timer can wake late, as after a suspend).
	kick chan struct{}
	// refreshed counts the replacements, for tests and logs.
	refreshed int
	// expiredSaid is set once the credentials' end, with the source
	// failing, was logged at error: each retry after it is at debug.
	expiredSaid bool
}

const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// maxSleep bounds how long the loop sleeps at once: the wall clock may
	// jump (a suspended laptop) while a timer, on the monotonic clock,
	// does not.
	maxSleep = time.Minute
	// fetchTimeout bounds one fetch from the source.
	fetchTimeout = time.Minute
)

// NewCache returns an empty cache of AWS credentials; Fill gives it its
// first credentials.
func NewCache(src Source, refreshBefore time.Duration, log *slog.Logger) *Cache {
	return NewCacheFor("aws", src, refreshBefore, log)
}

// NewCacheFor returns an empty cache of cloud's credentials (aws, gcp,
// azure: the name its log lines give).
func NewCacheFor(cloud string, src Source, refreshBefore time.Duration, log *slog.Logger) *Cache {
	log = orDiscard(log)
	return &Cache{cloud: cloud, src: src, before: refreshBefore, log: log, now: time.Now, kick: make(chan struct{}, 1)}
}

// errNotRenewed is a refresh whose source gave credentials that expire
// no later than those served: a source that caches tokens (a managed
// identity, the Azure CLI) hands the same one back until shortly before
// it expires.
var errNotRenewed = errors.New("the source gave credentials that expire no later than the ones served")

// OnNew has f called with each credentials the cache is about to serve,
// before they are served: the child's output can then be masked for them
// before the child can have them. Call it before Fill.
func (c *Cache) OnNew(f func(Credentials)) { c.onNew = f }

// OnExpired has f called once an outage outlasts the credentials: when a
// refresh fails after they expired, once until the source recovers.
// Call it before Run.
func (c *Cache) OnExpired(f func()) { c.onExpired = f }

// Fill fetches the first credentials; nothing is served without them.
func (c *Cache) Fill(ctx context.Context) error {
	cr, err := c.src.Fetch(ctx)
	if err != nil {
		return err
	}
	if c.onNew != nil {
		c.onNew(cr)
	}
	c.mu.Lock()
	c.cur = &cr
	c.mu.Unlock()
	c.log.Debug(c.cloud+" identity ready", "source", c.src.String(), "identity", cr.Identity, "expires", cr.Expires.UTC().Format(time.RFC3339), "refresh_in", c.refreshAt(cr).Sub(c.now()).Round(time.Second).String())
	return nil
}

// Current returns the credentials to serve, false when there are none
// that have not expired.
func (c *Cache) Current() (Credentials, bool) {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return Credentials{}, false
	}
	now := c.now()
	if !now.Before(c.refreshAt(*cur)) {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	if !now.Before(cur.Expires) {
		return Credentials{}, false
	}
	return *cur, true
}

// Refreshed counts the credentials that replaced others.
func (c *Cache) Refreshed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshed
}

// Margin is how long before they expire credentials of lifetime are
// replaced: refreshBefore, at most a third of the lifetime, so that
// credentials that live 15 minutes are not replaced the moment they
// arrive.
func Margin(lifetime, refreshBefore time.Duration) time.Duration {
	return min(refreshBefore, lifetime/3)
}

func (c *Cache) refreshAt(cr Credentials) time.Time {
	return cr.Expires.Add(-Margin(cr.Lifetime(), c.before))
}

func (c *Cache) current() *Credentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// Run replaces the credentials ahead of expiry until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	backoff := time.Duration(0)
	// told says onExpired heard of this outage.
	told := false
	for {
		cur := c.current()
		now := c.now()
		wait := c.refreshAt(*cur).Sub(now)
		if backoff > 0 {
			// Retry after the backoff, but no later than the expiry: a
			// last chance before the endpoint answers 503.
			wait = backoff
			if left := cur.Expires.Sub(now); left > 0 {
				wait = min(wait, left)
			}
		}
		if wait > 0 {
			t := time.NewTimer(min(wait, maxSleep))
			kick := c.kick
			if backoff > 0 {
				// A failing source is not asked faster because the
				// child asks.
				kick = nil
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-kick:
				t.Stop()
			case <-t.C:
			}
			// Not due yet: the sleep was cut short by maxSleep, or the
			// kick came from a request that raced a refresh.
			if backoff == 0 && c.now().Before(c.refreshAt(*c.current())) {
				continue
			}
		}
		if err := c.refresh(ctx, cur); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			c.logFailure(err, cur, backoff)
			if !told && c.onExpired != nil && !c.now().Before(cur.Expires) {
				told = true
				c.onExpired()
			}
			continue
		}
		told = false
		if backoff > 0 {
			c.log.Info(c.cloud+" identity refresh recovered", "source", c.src.String())
			c.expiredSaid = false
		}
		backoff = 0
	}
}

// refresh fetches new credentials and serves them in place of cur, whose
// lease is then given back.
func (c *Cache) refresh(ctx context.Context, cur *Credentials) error {
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	next, err := c.src.Fetch(fctx)
	if err != nil {
		return err
	}
	if !next.Expires.After(cur.Expires) {
		c.release(ctx, next)
		return errNotRenewed
	}
	if c.onNew != nil {
		c.onNew(next)
	}
	c.mu.Lock()
	c.cur = &next
	c.refreshed++
	c.mu.Unlock()
	c.log.Info(c.cloud+" identity refreshed", "source", c.src.String(), "identity", next.Identity,
		"expires", next.Expires.UTC().Format(time.RFC3339), "refresh_in", c.refreshAt(next).Sub(c.now()).Round(time.Second).String())
	// The old credentials can no longer be handed out. An SDK that holds
	// them keeps using them until its own refresh: STS credentials
	// cannot be revoked, and revoking their Vault lease ends only Vault's
	// record of them.
	c.release(ctx, *cur)
	return nil
}

func (c *Cache) release(ctx context.Context, cr Credentials) {
	if cr.Lease == nil {
		return
	}
	if err := c.src.Release(ctx, cr); err != nil {
		c.log.Warn("cannot revoke the lease of credentials ward no longer serves", "source", c.src.String(), "error", err.Error())
	}
}

func (c *Cache) logFailure(err error, cur *Credentials, retry time.Duration) {
	left := cur.Expires.Sub(c.now())
	if left > 0 && errors.Is(err, errNotRenewed) {
		c.log.Info("the "+c.cloud+" identity's source still gives the credentials ward serves; serving them and asking again", "source", c.src.String(),
			"expires_in", left.Round(time.Second).String(), "retry_in", retry.String())
		return
	}
	if left > 0 {
		c.log.Warn("cannot refresh the "+c.cloud+" identity; serving the current credentials until they expire", "source", c.src.String(),
			"expires_in", left.Round(time.Second).String(), "retry_in", retry.String(), "error", err.Error())
		return
	}
	level := slog.LevelError
	if c.expiredSaid {
		// Said once, as a rotation's lease end is: an hour's outage
		// logged it at every retry.
		level = slog.LevelDebug
	}
	c.expiredSaid = true
	c.log.Log(context.Background(), level, "cannot refresh the "+c.cloud+" identity, whose credentials have expired: the endpoint answers 503 until the source recovers", "source", c.src.String(),
		"expired", (-left).Round(time.Second).String(), "retry_in", retry.String(), "error", err.Error())
}
