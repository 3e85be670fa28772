package launcher

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
)

// version is set at build time with -ldflags "-X
// github.com/wardsecrets/ward/launcher.version=v1.2.3"; when it is not,
// the module version from the build info is used, so `go install
// github.com/wardsecrets/ward/...@v1.2.3` reports v1.2.3.
var version = ""

// Version returns ward's version: the -X setting, else the module version
// from the build info, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// versionLine is what `ward version` and `ward --version` print.
func versionLine() string {
	return fmt.Sprintf("ward %s %s %s/%s", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print ward's version",
		Description: `Example:
   ward version`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return failure.New(fmt.Errorf("want no arguments, got %d", c.NArg()), "write: ward version")
			}
			fmt.Fprintln(c.App.Writer, versionLine())
			return nil
		},
	}
}
