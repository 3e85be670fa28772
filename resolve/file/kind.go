package file

import (
	"context"
	"fmt"
	"strings"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Kind is the mounted-files store in ward's registry: file:///abs/path
// and creds://NAME, served in ward's own process and watched for changes.
var Kind = &resolve.Kind{
	Name: "file",
	Schemes: []*resolve.Scheme{
		{
			Name:       "file",
			Summary:    "a mounted secret file (Docker, Kubernetes)",
			Example:    "file:///run/secrets/tls_key",
			ExampleVar: "TLS_KEY",
			Check:      checkFileRef,
			Pattern: func() string {
				return conf.RefPattern("file", `/[^#?]*`, false, resolve.AllowEmptyOption)
			},
			Refresh: resolve.Watched,
		},
		{
			Name:       "creds",
			Summary:    "a systemd credential in $CREDENTIALS_DIRECTORY (LoadCredential=)",
			Example:    "creds://db-password",
			ExampleVar: "DB_PASSWORD",
			Check:      checkCredsRef,
			Pattern: func() string {
				return conf.RefPattern("creds", conf.Unanchored(conf.CredName), false, resolve.AllowEmptyOption)
			},
			Refresh: resolve.Watched,
		},
	},
	Open: func(_ resolve.Options, env resolve.Env) (resolve.Store, error) {
		return byScheme{"file": Store{}, "creds": CredsStore{Dir: env.Getenv("CREDENTIALS_DIRECTORY")}}, nil
	},
}

// byScheme sends each reference to the store of its scheme.
type byScheme map[string]resolve.Store

func (b byScheme) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	s, ok := b[ref.Scheme]
	if !ok {
		return resolve.Secret{}, fmt.Errorf("unknown scheme %q", ref.Scheme)
	}
	return s.Fetch(ctx, ref)
}

func checkFileRef(r *resolve.Ref) *resolve.RefError {
	if !strings.HasPrefix(r.Path, "/") {
		return &resolve.RefError{Msg: "file references need an absolute path", Hint: "write file:///run/secrets/name (three slashes)"}
	}
	return allowEmptyOnly(r)
}

func checkCredsRef(r *resolve.Ref) *resolve.RefError {
	if !conf.CredName.MatchString(r.Path) {
		return &resolve.RefError{Msg: "invalid credential name", Hint: "write creds://NAME as given to LoadCredential=NAME:..."}
	}
	return allowEmptyOnly(r)
}

// allowEmptyOnly: a file's reference takes one option, allow_empty.
func allowEmptyOnly(r *resolve.Ref) *resolve.RefError {
	if err := resolve.AllowOptions(r, resolve.AllowEmpty); err != nil {
		return err
	}
	return resolve.CheckAllowEmpty(r)
}
