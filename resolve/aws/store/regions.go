package store

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
)

// regional is one service's clients, one a region. A reference by ARN is
// read in the ARN's region: AWS does not forward a request to the region an
// ARN names, so asked elsewhere it "can't find" the secret, or denies it.
type regional[C any] struct {
	session *Session
	// open makes the client for a region from the session's configuration.
	open func(cfg awssdk.Config, region string) *C

	mu      sync.Mutex
	clients map[string]*C
}

// client returns the client for region, "" meaning the session's, and the
// region it calls, loading the session on first use.
func (r *regional[C]) client(ctx context.Context, region string) (*C, string, error) {
	cfg, err := r.session.Config(ctx)
	if err != nil {
		return nil, "", err
	}
	region = cmp.Or(region, cfg.Region)
	if region == "" {
		return nil, "", fmt.Errorf("%w, or name it by its ARN, which holds its region", errNoRegion)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients == nil {
		r.clients = map[string]*C{}
	}
	c := r.clients[region]
	if c == nil {
		c = r.open(cfg, region)
		r.clients[region] = c
	}
	return c, region, nil
}

// home is the session's region, "" when none is configured (a reference
// by ARN still has its own), loading the session on first use.
func (r *regional[C]) home(ctx context.Context) (string, error) {
	cfg, err := r.session.Config(ctx)
	return cfg.Region, err
}

// arnRegion is the region of an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...),
// or "" when id is a name: a name is the session region's. The partition
// (aws-cn, aws-us-gov) goes with the region: the SDK picks the endpoint
// from it.
func arnRegion(id string) string {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// byRegion groups items by the region each one's id is read in: the
// region arnRegion finds in it, else home. Groups come in the order their
// regions first appear.
func byRegion[T any](items []T, id func(T) string, home string) [][]T {
	var groups [][]T
	at := map[string]int{}
	for _, it := range items {
		r := cmp.Or(arnRegion(id(it)), home)
		k, ok := at[r]
		if !ok {
			k = len(groups)
			at[r] = k
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], it)
	}
	return groups
}
