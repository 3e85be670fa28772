package env

import (
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Scheme is env://NAME.
const Scheme = "env"

// Kind is ward's own environment in the registry: env://NAME.
var Kind = &resolve.Kind{
	Name: Scheme,
	Schemes: []*resolve.Scheme{{
		Name:       Scheme,
		Summary:    "a variable of ward's own environment (a secret CI already injected)",
		Example:    "env://CI_DEPLOY_TOKEN",
		ExampleVar: "DEPLOY_TOKEN",
		Check:      checkRef,
		Pattern: func() string {
			return conf.RefPattern(Scheme, `[A-Za-z_][A-Za-z0-9_]*`, false, resolve.AllowEmptyOption)
		},
		Refresh: resolve.Static,
	}},
	Open: func(_ resolve.Options, env resolve.Env) (resolve.Store, error) {
		return Store{}, nil
	},
}

// Sources lists the variables of ward's environment that refs read.
func Sources(refs map[string]resolve.Ref) []string {
	var names []string
	for _, r := range refs {
		if r.Scheme == Scheme {
			names = append(names, r.Path)
		}
	}
	return names
}

func checkRef(r *resolve.Ref) *resolve.RefError {
	if !resolve.ValidEnvName(r.Path) {
		return &resolve.RefError{Msg: "invalid environment variable name", Hint: "write env://NAME with NAME matching [A-Za-z_][A-Za-z0-9_]*"}
	}
	if err := resolve.AllowOptions(r, resolve.AllowEmpty); err != nil {
		return err
	}
	return resolve.CheckAllowEmpty(r)
}
