// Command pulumi-language-nodejs is a LAB-ONLY stand-in for Pulumi's Node.js
// language host (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs),
// whose Go module the module proxy refuses here (403). It exists so the lab can
// time `pulumi up` the way prod runs it: the plain CLI starting a language host,
// which starts Node on @pulumi/pulumi's cmd/run with the project's program,
// instead of the Automation API's in-process program. It is not the upstream
// language host and must never be installed outside the lab.
//
// What it does as the real one does (from the run harness's own usage text,
// @pulumi/pulumi cmd/run/index.js, and the SDK's settings/config readers):
// Run starts `node [nodeargs] <@pulumi/pulumi/cmd/run> --monitor … --engine …
// --project … --stack … --pwd … --root-directory … [--dry-run] --parallel N
// <program> [args]` with the config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS
// and Pulumi.yaml's typescript/tsconfig options in PULUMI_NODEJS_TYPESCRIPT /
// PULUMI_NODEJS_TSCONFIG_PATH, and reports exit code 32 (the harness's "already
// told the user") as a bail. What it leaves out: GetRequiredPackages answers
// with no packages (the real host reads every package.json under node_modules
// for plugin declarations; the lab's plugins are on the path already), and
// nothing else of the LanguageRuntime service (about, install, new, pack…).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is what GetPluginInfo reports; "+lab" marks the stand-in.
var version = "3.274.1+lab"

// bailExitCode is the run harness's exit code after it has already reported the
// error to the user (nodeJSProcessExitedAfterLoggingUserActionableMessage).
const bailExitCode = 32

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	mu            sync.Mutex
	engineAddress string
}

func (h *languageHost) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *languageHost) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// runHarness finds @pulumi/pulumi/cmd/run from the program's directory upwards,
// as Node's own resolution would.
func runHarness(from string) (string, error) {
	for dir := from; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "run")
		if _, err := os.Stat(filepath.Join(candidate, "index.js")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no node_modules/@pulumi/pulumi/cmd/run above %s: run `npm ci`", from)
		}
	}
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	options := req.GetInfo().GetOptions().AsMap()
	harness, err := runHarness(req.GetPwd())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	var args []string
	if nodeargs, ok := options["nodeargs"].(string); ok {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, harness,
		"--monitor", req.GetMonitorAddress(),
		"--engine", engine,
		"--organization", req.GetOrganization(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--root-directory", req.GetInfo().GetRootDirectory(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	program := req.GetProgram()
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	typescript := true
	if value, ok := options["typescript"].(bool); ok {
		typescript = value
	}
	env = append(env, "PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(typescript))
	if tsconfig, ok := options["tsconfig"].(string); ok && tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}

	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == bailExitCode {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("node %s: %v", program, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(version)
		return
	}
	// The engine passes flags (tracing, logging) and its own address last.
	host := &languageHost{}
	if len(os.Args) > 1 {
		host.engineAddress = os.Args[len(os.Args)-1]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(server *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(server, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs (lab stand-in): %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs (lab stand-in): %v\n", err)
		os.Exit(1)
	}
}
