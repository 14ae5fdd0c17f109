// Command pulumi-resource-command is a LAB-ONLY stand-in for the Pulumi command
// provider (github.com/pulumi/pulumi-command). It implements only the
// `command:remote:Command` resource, and only the subset limen-infra uses, so
// the real Pulumi engine can converge lab hosts over SSH while the real plugin
// binary cannot be obtained (see README.md). It is not the upstream provider and
// must never be installed outside the lab.
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/middleware/cancel"
)

// version is what GetPluginInfo reports. The "+lab" build metadata marks the
// stand-in; semver ignores build metadata for precedence, so it still reads as
// 1.2.1, the version the Node SDK (@pulumi/command 1.2.1) asks for. Override
// with -ldflags "-X main.version=...".
var version = "1.2.1+lab"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(version)
		return
	}
	if err := p.RunProvider(context.Background(), "command", version, cancel.Wrap(newProvider())); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command (lab stand-in): %s\n", err)
		os.Exit(1)
	}
}
