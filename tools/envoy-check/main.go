// Command envoy-check judges an Envoy v3 bootstrap, or an SDS file, with Envoy's own API definitions
// and validators, as go-control-plane generates them: it loads the YAML the way Envoy does (YAML to
// proto JSON, unknown fields refused, typed_config and resources resolved by their type URL), runs the
// protoc-gen-validate rules on the document and on every extension config, then the cross-reference
// checks Envoy makes at load (check.go with pgv.go and walk.go, references.go, listeners.go; sds.go for
// SDS files). The document tree is read by tree.go and yaml.go, and located by locate.go.
//
// Usage:
//
//	envoy-check [FILE]                      a bootstrap: FILE, or standard input when FILE is "-" or absent
//	envoy-check --sds [--name NAME] [FILE]  an SDS file (a DiscoveryResponse holding one Secret); with
//	                                        --name, the Secret must be named NAME, as the bootstrap's
//	                                        SdsSecretConfig that reads the file is
//	envoy-check --version                   the go-control-plane version it was built with
//
// Prints "ok" and exits 0 when the document is valid; prints one line per problem, naming its
// field path (and YAML line), and exits 1 when it is not; exits 2 on a usage or read error.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = "usage: envoy-check [FILE|-]  (a bootstrap in YAML; standard input by default)\n" +
	"       envoy-check --sds [--name NAME] [FILE|-]  (an SDS file holding one Secret)"

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Fprintln(stdout, version())
		return 0
	}
	sds, name := false, ""
	if len(args) > 0 && args[0] == "--sds" {
		sds, args = true, args[1:]
		if len(args) > 0 && args[0] == "--name" {
			if len(args) < 2 || args[1] == "" {
				fmt.Fprintln(stderr, usage)
				return 2
			}
			name, args = args[1], args[2:]
		}
	}
	if len(args) > 1 || (len(args) == 1 && len(args[0]) > 1 && args[0][0] == '-') {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var input []byte
	var err error
	if len(args) == 0 || args[0] == "-" {
		input, err = io.ReadAll(stdin)
	} else {
		input, err = os.ReadFile(args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "envoy-check: %v\n", err)
		return 2
	}
	var problems []Problem
	if sds {
		problems = CheckSDS(input, name)
	} else {
		problems = Check(input)
	}
	if len(problems) == 0 {
		fmt.Fprintln(stdout, "ok")
		return 0
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	return 1
}

// version names the go-control-plane module the validators come from.
func version() string {
	return "envoy-check (github.com/envoyproxy/go-control-plane/envoy " + controlPlaneVersion() + ")"
}
