// Command awschild is the aws-sdk-go-v2 child of ward's identity tests:
// with the SDK's default configuration, unmodified (credentials from the
// chain, the endpoint from AWS_ENDPOINT_URL), it calls STS
// GetCallerIdentity every INTERVAL for DURATION and reports each call as
// a line: "ok ARN" or "fail ERROR", after a "start" line and before a
// "done CALLS FAILURES" line. It never prints a key. Its siblings
// child.py (boto3) and child.cjs (the JavaScript v3 SDK) print the same.
//
//	awschild DURATION INTERVAL
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: awschild DURATION INTERVAL")
		os.Exit(2)
	}
	duration, err1 := time.ParseDuration(os.Args[1])
	interval, err2 := time.ParseDuration(os.Args[2])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "awschild: bad duration")
		os.Exit(2)
	}
	fmt.Printf("start %d aws-sdk-go-v2\n", os.Getpid())
	ctx := context.Background()
	// No retries: a call that fails, fails.
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1))
	if err != nil {
		fmt.Printf("fail load config: %v\n", err)
		fmt.Println("done 0 1")
		os.Exit(1)
	}
	client := sts.NewFromConfig(cfg)
	calls, failures := 0, 0
	end := time.Now().Add(duration)
	for next := time.Now(); next.Before(end); next = next.Add(interval) {
		time.Sleep(time.Until(next)) // the pace of the calls, not a wait for an event
		calls++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := client.GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
		cancel()
		if err != nil {
			failures++
			fmt.Printf("fail %v\n", err)
			continue
		}
		fmt.Printf("ok %s\n", aws.ToString(out.Arn))
	}
	fmt.Printf("done %d %d\n", calls, failures)
}
