// Command cloudchild is the Google Cloud and Azure child of ward's
// identity tests. With each cloud's official library and its default
// credential chain, unmodified (the endpoints and a trusted CA are all it
// is told), it reads a secret every INTERVAL for DURATION and reports each
// read as a line: "ok" or "fail ERROR", after a "start" line and before a
// "done CALLS FAILURES" line. It never prints a token or a value.
//
//	cloudchild gcp DURATION INTERVAL SECRET_MANAGER_URL SECRET_VERSION_NAME
//	cloudchild azure DURATION INTERVAL VAULT_URL SECRET_NAME
//
// gcp reads with google.golang.org/api/secretmanager/v1, whose
// credentials come from Application Default Credentials
// (cloud.google.com/go/auth/credentials.DetectDefault): with ward's
// identity.gcp, the metadata server at GCE_METADATA_HOST. azure reads
// with azsecrets and azidentity.NewDefaultAzureCredential: with ward's
// identity.azure, the managed identity at IDENTITY_ENDPOINT.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"google.golang.org/api/option"
	secretmanager "google.golang.org/api/secretmanager/v1"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: cloudchild gcp|azure DURATION INTERVAL URL SECRET")
		os.Exit(2)
	}
	duration, err1 := time.ParseDuration(os.Args[2])
	interval, err2 := time.ParseDuration(os.Args[3])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "cloudchild: bad duration")
		os.Exit(2)
	}
	ctx := context.Background()
	var read func(context.Context) error
	var err error
	switch os.Args[1] {
	case "gcp":
		fmt.Printf("start %d google.golang.org/api\n", os.Getpid())
		read, err = gcpReader(ctx, os.Args[4], os.Args[5])
	case "azure":
		fmt.Printf("start %d azidentity+azsecrets\n", os.Getpid())
		read, err = azureReader(os.Args[4], os.Args[5])
	default:
		fmt.Fprintln(os.Stderr, "cloudchild: want gcp or azure")
		os.Exit(2)
	}
	if err != nil {
		fmt.Printf("fail set up: %v\n", err)
		fmt.Println("done 0 1")
		os.Exit(1)
	}
	calls, failures := 0, 0
	end := time.Now().Add(duration)
	for next := time.Now(); next.Before(end); next = next.Add(interval) {
		time.Sleep(time.Until(next)) // the pace of the calls, not a wait for an event
		calls++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := read(cctx)
		cancel()
		if err != nil {
			failures++
			fmt.Printf("fail %v\n", err)
			continue
		}
		fmt.Println("ok")
	}
	fmt.Printf("done %d %d\n", calls, failures)
}

// gcpReader reads a secret version with Application Default Credentials.
func gcpReader(ctx context.Context, endpoint, name string) (func(context.Context) error, error) {
	svc, err := secretmanager.NewService(ctx, option.WithEndpoint(endpoint))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		out, err := svc.Projects.Secrets.Versions.Access(name).Context(ctx).Do()
		if err == nil && (out.Payload == nil || out.Payload.Data == "") {
			err = fmt.Errorf("no payload")
		}
		return err
	}, nil
}

// azureReader reads a secret with the default Azure credential chain.
// The vault is reached by IP address, outside the domain its challenge
// names: the option a private endpoint's custom host name needs too. No
// retries: a read that fails, fails.
func azureReader(vaultURL, name string) (func(context.Context) error, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, err
	}
	client, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		out, err := client.GetSecret(ctx, name, "", nil)
		if err == nil && (out.Value == nil || *out.Value == "") {
			err = fmt.Errorf("no value")
		}
		return err
	}, nil
}
