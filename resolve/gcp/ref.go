package gcp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Example is a valid reference, for hints.
const Example = "gcpsm://my-project/db-password"

// Latest is the version alias of a secret's most recently created version.
const Latest = "latest"

var (
	// A project id: 6 to 30 lowercase letters, digits and hyphens,
	// starting with a letter, not ending with a hyphen; older projects may
	// be scoped to a domain (example.com:my-project). A project number
	// names the project too.
	projectIDRE     = conf.Lazy(`^([a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	projectNumberRE = conf.Lazy(`^[1-9][0-9]{0,18}$`)
	// A secret id: letters, digits, '-' and '_', at most 255.
	secretIDRE = conf.Lazy(`^[A-Za-z0-9_-]{1,255}$`)
	// A version number counts from 1.
	versionRE = conf.Lazy(`^[1-9][0-9]{0,18}$`)
	// A version alias (versionAliases, gcloud secrets update
	// --update-version-aliases): a letter, then up to 62 letters, digits,
	// '-' and '_'. Google refuses latest and new, in any case, as
	// aliases; CheckRef refuses them but the exact latest.
	aliasRE = conf.Lazy(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)
	// A location becomes part of a host name: a DNS label of lowercase
	// letters, digits and hyphens, such as europe-west1.
	locationRE = conf.Lazy(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// options are the query options a gcpsm:// reference takes.
var options = []string{"version", "location"}

// CheckRef validates a gcpsm:// reference's path and options:
//
//	gcpsm://PROJECT/SECRET[#FIELD][?version=N|latest|ALIAS][&location=REGION]
//	gcpsm://projects/PROJECT/secrets/SECRET[/versions/VERSION]
//	gcpsm://projects/PROJECT/locations/REGION/secrets/SECRET[/versions/VERSION]
//
// Its messages quote parts of the reference and nothing else.
func CheckRef(r *resolve.Ref) *resolve.RefError {
	res, err := splitPath(r.Path)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(r.Options))
	for k := range r.Options {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k != "version" && k != "location" {
			return &resolve.RefError{Msg: fmt.Sprintf("unknown option %q", k),
				Hint: "gcpsm references take " + strings.Join(options, " and ") + ", e.g. " + Example + "?version=3"}
		}
		if r.Options[k] == "" {
			return &resolve.RefError{Msg: fmt.Sprintf("option %s is empty", k), Hint: "e.g. " + Example + "?" + k + "=" + exampleOption(k)}
		}
	}
	if v, ok := r.Options["version"]; ok {
		if res.Version != "" {
			return &resolve.RefError{Msg: fmt.Sprintf("version given twice: versions/%s in the path and ?version=%s", res.Version, v),
				Hint: "keep one, e.g. gcpsm://projects/" + res.Project + "/secrets/" + res.Secret + "/versions/" + res.Version}
		}
		if err := checkVersion(v); err != nil {
			return err
		}
	}
	if loc, ok := r.Options["location"]; ok {
		if res.Location != "" && loc != res.Location {
			return &resolve.RefError{Msg: fmt.Sprintf("location given twice and differently: locations/%s in the path and ?location=%s", res.Location, loc),
				Hint: "keep one, e.g. gcpsm://projects/" + res.Project + "/locations/" + res.Location + "/secrets/" + res.Secret}
		}
		if !locationRE.MatchString(loc) {
			return badLocation(loc)
		}
	}
	return nil
}

// Resource is the secret version a reference names.
type Resource struct {
	// Project is the project id or number.
	Project string
	// Location is the region of a regional secret; empty for a global one.
	Location string
	// Secret is the secret id.
	Secret string
	// Version is a version number, Latest or a version alias.
	Version string
}

// ParseResource returns the secret version r names. r must have passed
// CheckRef.
func ParseResource(r resolve.Ref) Resource {
	res, _ := splitPath(r.Path)
	if v, ok := r.Options["version"]; ok {
		res.Version = v
	}
	if res.Version == "" {
		res.Version = Latest
	}
	if loc, ok := r.Options["location"]; ok {
		res.Location = loc
	}
	return res
}

// Name is the API's resource name of the version:
// projects/P/secrets/S/versions/V, or
// projects/P/locations/L/secrets/S/versions/V for a regional secret.
func (r Resource) Name() string {
	return r.SecretName() + "/versions/" + r.Version
}

// SecretName is the API's resource name of the secret.
func (r Resource) SecretName() string {
	if r.Location != "" {
		return "projects/" + r.Project + "/locations/" + r.Location + "/secrets/" + r.Secret
	}
	return "projects/" + r.Project + "/secrets/" + r.Secret
}

// splitPath reads the path of a reference: PROJECT/SECRET or a resource
// name. Version and Location are empty unless the path gives them.
func splitPath(path string) (Resource, *resolve.RefError) {
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if s == "" {
			return Resource{}, &resolve.RefError{Msg: "empty segment in the path", Hint: "write gcpsm://PROJECT/SECRET, e.g. " + Example}
		}
	}
	var res Resource
	switch {
	case len(segs) == 2:
		res = Resource{Project: segs[0], Secret: segs[1]}
	case segs[0] == "projects" && len(segs) >= 4:
		res.Project = segs[1]
		rest := segs[2:]
		if rest[0] == "locations" && len(rest) >= 4 {
			res.Location, rest = rest[1], rest[2:]
			if !locationRE.MatchString(res.Location) {
				return Resource{}, badLocation(res.Location)
			}
		}
		switch {
		case len(rest) == 2 && rest[0] == "secrets":
			res.Secret = rest[1]
		case len(rest) == 4 && rest[0] == "secrets" && rest[2] == "versions":
			res.Secret, res.Version = rest[1], rest[3]
		default:
			return Resource{}, badResourceName()
		}
	case segs[0] == "projects":
		return Resource{}, badResourceName()
	case len(segs) == 3:
		return Resource{}, &resolve.RefError{Msg: "want PROJECT/SECRET, got three segments",
			Hint: "give a version as an option, e.g. gcpsm://" + segs[0] + "/" + segs[1] + "?version=" + segs[2]}
	default:
		return Resource{}, &resolve.RefError{Msg: "want PROJECT/SECRET or projects/PROJECT/secrets/SECRET",
			Hint: "e.g. " + Example + " or gcpsm://projects/my-project/secrets/db-password/versions/3"}
	}
	if !validProject(res.Project) {
		return Resource{}, &resolve.RefError{Msg: fmt.Sprintf("%q is not a project id", res.Project),
			Hint: "a project id has 6 to 30 lowercase letters, digits and hyphens, starts with a letter and does not end with a hyphen (a project number works too), e.g. " + Example}
	}
	if len(res.Secret) > 255 {
		return Resource{}, &resolve.RefError{Msg: fmt.Sprintf("the secret id has %d characters, more than 255", len(res.Secret)),
			Hint: "e.g. " + Example}
	}
	if !secretIDRE.MatchString(res.Secret) {
		return Resource{}, &resolve.RefError{Msg: fmt.Sprintf("secret id %q has a character other than letters, digits, '-' and '_'", res.Secret),
			Hint: "e.g. " + Example + "#password, where #password selects a field of a JSON secret"}
	}
	if res.Version != "" {
		if err := checkVersion(res.Version); err != nil {
			return Resource{}, err
		}
	}
	return res, nil
}

func validProject(p string) bool {
	return projectIDRE.MatchString(p) || projectNumberRE.MatchString(p)
}

func checkVersion(v string) *resolve.RefError {
	if v == Latest || versionRE.MatchString(v) {
		return nil
	}
	if aliasRE.MatchString(v) && !strings.EqualFold(v, Latest) && !strings.EqualFold(v, "new") {
		return nil
	}
	return &resolve.RefError{Msg: fmt.Sprintf("version %q is neither a positive whole number, latest nor a version alias", v),
		Hint: "versions count from 1, e.g. " + Example + "?version=3; an alias starts with a letter (?version=prod); latest is the default"}
}

// IsAlias reports whether a Resource's Version is a version alias: the
// version it names moves when the alias does.
func IsAlias(version string) bool {
	return version != Latest && !versionRE.MatchString(version)
}

func badLocation(loc string) *resolve.RefError {
	return &resolve.RefError{Msg: fmt.Sprintf("location %q is not a Google Cloud region", loc),
		Hint: "name the region of a regional secret, e.g. " + Example + "?location=europe-west1"}
}

func badResourceName() *resolve.RefError {
	return &resolve.RefError{Msg: "malformed resource name: want projects/PROJECT[/locations/REGION]/secrets/SECRET[/versions/VERSION]",
		Hint: "e.g. gcpsm://projects/my-project/secrets/db-password/versions/3"}
}

func exampleOption(k string) string {
	if k == "location" {
		return "europe-west1"
	}
	return "3"
}
