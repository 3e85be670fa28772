package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/wardsecrets/ward/resolve"
)

// maxGetParameters is the most names one GetParameters call takes.
const maxGetParameters = 10

// ParameterStore reads ssm:///path/to/param references from SSM Parameter
// Store, decrypted, the latest version unless ?version=N says otherwise,
// in the region of its ARN when it is one (else the session's).
// Every read is a GetParameters call, so ward needs one IAM action,
// ssm:GetParameters, whether it reads one parameter or many.
type ParameterStore struct {
	// Concurrency bounds the requests one FetchBatch has in flight; 0
	// means resolve.DefaultConcurrency.
	Concurrency int

	clients regional[ssm.Client]
}

var _ resolve.BatchStore = (*ParameterStore)(nil)

// NewParameterStore returns the store. It loads nothing until a fetch.
func NewParameterStore(s *Session) *ParameterStore {
	return &ParameterStore{clients: regional[ssm.Client]{session: s, open: func(cfg awssdk.Config, region string) *ssm.Client {
		return ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.Region = region })
	}}}
}

// Fetch reads one parameter.
func (ps *ParameterStore) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	secrets, errs := ps.FetchBatch(ctx, []resolve.Ref{ref})
	return secrets[0], errs[0]
}

// FetchBatch reads refs with GetParameters, 10 names of one region a
// call, at most Concurrency calls at a time. A missing parameter is
// reported for its reference; when AWS refuses a whole call (IAM or KMS
// denying one of its parameters), each of its names is asked for alone to
// tell which.
func (ps *ParameterStore) FetchBatch(ctx context.Context, refs []resolve.Ref) ([]resolve.Secret, []error) {
	home, err := ps.clients.home(ctx)
	if err != nil {
		return resolve.BatchFailed(len(refs), err)
	}
	secrets := make([]resolve.Secret, len(refs))
	errs := make([]error, len(refs))

	// Refs that ask for the same name:version share one answer.
	var names []string
	byName := map[string][]int{}
	for i, r := range refs {
		n := parameterName(r)
		if _, ok := byName[n]; !ok {
			names = append(names, n)
		}
		byName[n] = append(byName[n], i)
	}
	put := func(name string, s resolve.Secret, err error) {
		for _, i := range byName[name] {
			secrets[i], errs[i] = s, err
		}
	}

	var batches [][]string
	for _, group := range byRegion(names, func(n string) string { return n }, home) {
		batches = append(batches, chunks(group, maxGetParameters)...)
	}
	leftovers := make([][]string, len(batches))
	fanOut(len(batches), ps.Concurrency, func(k int) {
		leftovers[k] = ps.get(ctx, batches[k], put)
	})
	rest := slices.Concat(leftovers...)
	fanOut(len(rest), ps.Concurrency, func(k int) {
		ps.get(ctx, rest[k:k+1], put)
	})
	return secrets, errs
}

// get reads names, all of one region, with one GetParameters call and
// hands each answer to put. It returns the names it has no answer for, to
// be asked for alone: all of them when a call for several failed in a way
// one name may have caused, or those the response does not mention.
func (ps *ParameterStore) get(ctx context.Context, names []string, put func(string, resolve.Secret, error)) []string {
	c, region, err := ps.clients.client(ctx, arnRegion(names[0]))
	if err != nil {
		for _, n := range names {
			put(n, resolve.Secret{}, err)
		}
		return nil
	}
	out, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: awssdk.Bool(true)})
	if err != nil {
		if len(names) > 1 && attributable(err) {
			return names
		}
		for _, n := range names {
			put(n, resolve.Secret{}, ps.target(n, region).fail(err))
		}
		return nil
	}
	answered := map[string]bool{}
	for _, n := range names {
		p, ok := findParameter(out.Parameters, n)
		if !ok && len(names) == 1 && len(out.Parameters) == 1 {
			p, ok = out.Parameters[0], true
		}
		if ok {
			answered[n] = true
			put(n, resolve.Secret{Value: []byte(awssdk.ToString(p.Value)), Version: strconv.FormatInt(p.Version, 10)}, nil)
		}
	}
	for _, n := range out.InvalidParameters {
		if slices.Contains(names, n) {
			answered[n] = true
			put(n, resolve.Secret{}, ps.target(n, region).notFound())
		}
	}
	var rest []string
	for _, n := range names {
		switch {
		case answered[n]:
		case len(names) > 1:
			rest = append(rest, n)
		default:
			put(n, resolve.Secret{}, fmt.Errorf("read %s: ssm parameter store answered without it", ps.target(n, region).what))
		}
	}
	return rest
}

// target names a GetParameters name (name[:version] or name[:label]) read
// in region for error messages.
func (ps *ParameterStore) target(name, region string) target {
	what := fmt.Sprintf("parameter %q", name)
	if n, v, ok := strings.Cut(name, ":"); ok && !strings.HasPrefix(name, "arn:") {
		kind := "version"
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			kind = "label"
		}
		what = fmt.Sprintf("parameter %q (%s %s)", n, kind, v)
	}
	return target{service: "ssm parameter store", what: what, action: "ssm:GetParameters", region: region,
		endpointEnv: "AWS_ENDPOINT_URL_SSM", byName: !strings.Contains(name, ":")}
}

// parameterName is the name GetParameters is asked for: the path, with a
// ":N" selector for ?version=N and ":NAME" for ?label=NAME.
func parameterName(ref resolve.Ref) string {
	if v, ok := ref.Options["version"]; ok {
		return ref.Path + ":" + v
	}
	if l, ok := ref.Options["label"]; ok {
		return ref.Path + ":" + l
	}
	return ref.Path
}

// findParameter finds the parameter that answers name: by name or ARN,
// with the version selector when one was given.
func findParameter(params []types.Parameter, name string) (types.Parameter, bool) {
	for _, p := range params {
		sel := awssdk.ToString(p.Selector)
		if name == awssdk.ToString(p.Name)+sel || name == awssdk.ToString(p.ARN)+sel {
			return p, true
		}
	}
	return types.Parameter{}, false
}
