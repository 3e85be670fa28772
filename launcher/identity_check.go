package launcher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
)

// identityCheckRow is one row of check --resolve for an identity: its
// name, the scheme of its source and what it would serve.
type identityCheckRow struct {
	name, scheme, desc string
}

// checkIdentities describes check --resolve's rows for the manifest's
// identities: each source is asked once for what the endpoint would
// serve, and the row names the reference, the identity and the expiry,
// never a key or a token. The stores are closed before it returns, which
// revokes the AWS credentials' lease (revoke_on_exit), since no child
// will use them.
func checkIdentities(lg logs, m *manifest.Manifest, prof *manifest.Profile) ([]identityCheckRow, error) {
	set, f := openStores(m, prof, lg, false)
	defer set.Close()
	ctx := context.Background()
	var rows []identityCheckRow
	id := m.IdentityFor(prof)
	if a := id.AWS; a != nil {
		desc, err := identityRow(ctx, f, a)
		if err != nil {
			return nil, failure.New(err, "")
		}
		rows = append(rows, identityCheckRow{identity.SourceVar, a.From.Scheme, desc})
	}
	if g := id.GCP; g != nil {
		desc, err := tokenRow(ctx, f, g.From, identity.GCPSourceVar, g.RefreshBefore)
		if err != nil {
			return nil, failure.New(err, "")
		}
		if g.Project != "" {
			desc = strings.Replace(desc, " (serves ", " (project "+g.Project+", serves ", 1)
		}
		rows = append(rows, identityCheckRow{identity.GCPSourceVar, g.From.Scheme, desc})
	}
	if a := id.Azure; a != nil {
		for _, r := range a.Refs {
			desc, err := tokenRow(ctx, f, r, identity.AzureSourceVar, a.RefreshBefore)
			if err != nil {
				return nil, failure.New(err, "")
			}
			rows = append(rows, identityCheckRow{identity.AzureSourceVar, r.Scheme, desc})
		}
	}
	return rows, nil
}

// identityRow fetches the AWS identity's credentials once and describes
// them: the source, who they act as, when they expire and when ward
// would replace them.
func identityRow(ctx context.Context, f *resolve.Fetcher, a *manifest.AWSIdentity) (string, error) {
	src := &identity.RefSource{Fetcher: f, Ref: a.From}
	c, err := src.Fetch(ctx)
	if err != nil {
		return "", err
	}
	return describeCredentials(a.From, c, "", a.RefreshBefore), nil
}

// tokenRow fetches an access token once and describes it as identityRow
// does, with a Google token's scopes or an Azure token's resource.
func tokenRow(ctx context.Context, f *resolve.Fetcher, ref resolve.Ref, name string, before time.Duration) (string, error) {
	c, err := identity.NewTokenSource(f, ref, name).Fetch(ctx)
	if err != nil {
		return "", err
	}
	what := ""
	switch {
	case c.Resource != "":
		what = "a token for " + c.Resource + " as "
	case len(c.Scopes) > 0:
		what = "a token with scopes " + strings.Join(c.Scopes, ",") + " of "
	}
	return describeCredentials(ref, c, what, before), nil
}

func describeCredentials(ref resolve.Ref, c identity.Credentials, what string, before time.Duration) string {
	who := c.Identity
	if who == "" {
		who = "an identity the source does not name"
	}
	margin := identity.Margin(c.Lifetime(), before)
	return fmt.Sprintf("%s (serves %s%s, expiring %s, refreshed %s before)",
		ref.Raw, what, who, c.Expires.UTC().Format(time.RFC3339), margin.Round(time.Second))
}
