// Command envoy is the lab's stand-in for Envoy's data plane (no Envoy binary or image exists on the
// lab's machine). It serves exactly what render/envoy.ts and files/envoy-bootstrap.yaml emit, and
// refuses at start, naming the field path, anything else a bootstrap holds (allow.go), so that it can
// never pass or serve a config it does not understand.
//
// It is built from this directory together with tools/envoy-check's sources (all but its main.go;
// build.sh): a bootstrap is first judged exactly as envoy-check judges it, with Envoy's API
// definitions and validators from go-control-plane.
//
// Usage (the subset of Envoy's command line the project uses):
//
//	envoy --version
//	envoy --mode validate -c FILE
//	envoy [--mode serve] -c FILE [--drain-time-s N] [--log-level LEVEL]
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
)

type options struct {
	mode, configPath, logLevel string
	drainTimeS                 int
	version                    bool
}

func main() {
	log.SetPrefix("[lab envoy] ")
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = "usage: envoy --version | envoy [--mode serve|validate] -c FILE [--drain-time-s N] [--log-level LEVEL]"

var logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warning": true, "warn": true, "error": true, "critical": true, "off": true}

func parseArgs(args []string) (options, error) {
	opts := options{mode: "serve", logLevel: "info", drainTimeS: 600}
	for i := 0; i < len(args); i++ {
		flag := args[i]
		if flag == "--version" {
			opts.version = true
			continue
		}
		if i+1 >= len(args) {
			return opts, fmt.Errorf("%s: missing value or unknown flag", flag)
		}
		value := args[i+1]
		i++
		switch flag {
		case "-c", "--config-path":
			opts.configPath = value
		case "--mode":
			if value != "serve" && value != "validate" {
				return opts, fmt.Errorf("--mode %q: only serve and validate are implemented", value)
			}
			opts.mode = value
		case "--drain-time-s":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return opts, fmt.Errorf("--drain-time-s %q: not a number of seconds", value)
			}
			opts.drainTimeS = n
		case "-l", "--log-level":
			if !logLevels[value] {
				return opts, fmt.Errorf("--log-level %q: unknown level", value)
			}
			opts.logLevel = value
		default:
			return opts, fmt.Errorf("%s: %s", flag, notImplemented)
		}
	}
	if !opts.version && opts.configPath == "" {
		return opts, fmt.Errorf("-c FILE is required")
	}
	return opts, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	log.SetOutput(stderr)
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "envoy: %v\n%s\n", err, usage)
		return 1
	}
	if opts.version {
		fmt.Fprintln(stdout, version())
		return 0
	}
	// Envoy's validate mode reads the files the config names (certificates, SDS files) but binds
	// nothing; so does this one, and serve mode reads them the same way before it binds.
	cfg, problems, err := loadConfig(opts.configPath)
	if err != nil {
		fmt.Fprintf(stderr, "error initializing configuration '%s': %v\n", opts.configPath, err)
		return 1
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "error initializing configuration '%s':\n", opts.configPath)
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	if opts.mode == "validate" {
		fmt.Fprintf(stdout, "configuration '%s' OK\n", opts.configPath)
		return 0
	}
	if opts.logLevel == "off" {
		log.SetOutput(io.Discard)
	}
	log.Printf("%s: serving %s", version(), opts.configPath)
	if err := serve(cfg, opts); err != nil {
		log.Printf("%v", err)
		return 1
	}
	return 0
}

// version says what this binary is: not Envoy, and the go-control-plane its validators come from.
func version() string {
	return "envoy version: limen lab stand-in for Envoy (not Envoy; github.com/envoyproxy/go-control-plane/envoy " + controlPlaneVersion() + ")"
}
