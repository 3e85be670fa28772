package launcher

import (
	"context"
	"fmt"
	"time"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
)

// checkIdentity describes check --resolve's row for the manifest's
// identity: it asks the identity's source once for what the endpoint
// would serve and names the reference, the identity and the expiry, never
// a key. The stores are closed before it returns, which revokes the
// credentials' lease (revoke_on_exit), since no child will use them.
func checkIdentity(lg logs, m *manifest.Manifest, prof *manifest.Profile) (string, error) {
	set, f := openStores(m, prof, lg)
	defer set.Close()
	desc, err := identityRow(context.Background(), f, m.Identity.AWS)
	if err != nil {
		return "", failure.New(err, "")
	}
	return desc, nil
}

// identityRow fetches the identity's credentials once and describes
// them: the source, who they act as, when they expire and when ward would
// replace them.
func identityRow(ctx context.Context, f *resolve.Fetcher, a *manifest.AWSIdentity) (string, error) {
	src := &identity.RefSource{Fetcher: f, Ref: a.From}
	c, err := src.Fetch(ctx)
	if err != nil {
		return "", err
	}
	who := c.Identity
	if who == "" {
		who = "an identity the source does not name"
	}
	margin := identity.Margin(c.Lifetime(), a.RefreshBefore)
	return fmt.Sprintf("%s (serves %s, expiring %s, refreshed %s before)",
		a.From.Raw, who, c.Expires.UTC().Format(time.RFC3339), margin.Round(time.Second)), nil
}
