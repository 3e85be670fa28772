// Command ward-aws is ward's helper for awssm://, ssm:// and awssts://
// references: ward starts it, only when a manifest names AWS, and talks to
// it over pipes (see package resolve/remote), so that ward itself never
// links the AWS SDK.
package main

import (
	"os"

	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/remote"
)

func main() { os.Exit(remote.Main(aws.Kind, store.Open)) }
