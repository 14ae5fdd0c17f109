package main

// Installing files: check-ready, install-file, remove-file (files/limen-host.sh's subcommands of the
// same names). A file's new content is checked first, then written to a new file beside its target
// and renamed into place, so a reader sees the old file or the new one, never half of one; a file in
// a directory of its own (non-root) owner, such as the app's .env.production, is written by that user.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

// check-ready: systemd runs, and nft is installed.
type checkReadyRequest struct {
	common
}

func (r *checkReadyRequest) validate() error { return nil }

type checkReadyResult struct {
	Host string `json:"host"`
}

func (r checkReadyResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "ready %s\n", r.Host)
	return err
}

func runCheckReady(c *call, _ *checkReadyRequest) (checkReadyResult, error) {
	if !isDir("/run/systemd/system") {
		return checkReadyResult{}, errors.New("systemd is not running on this host")
	}
	if _, err := c.program("nft", "nft is missing: install Debian's nftables package"); err != nil {
		return checkReadyResult{}, err
	}
	host, err := os.Hostname()
	return checkReadyResult{Host: host}, err
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// install-file: new content for a file, judged by its check before anything on the host changes.
type installFileRequest struct {
	common
	Path string `json:"path" required:"true"`
	// Mode: octal, "0640".
	Mode string `json:"mode" required:"true"`
	// Owner: "user:group".
	Owner string `json:"owner" required:"true"`
	// Check: none, nft (nft -c), ecosystem (judged as data by node, as nobody) or envoy (envoy --mode
	// validate in EnvoyImage, with Mounts mounted read-only as the proxy has them).
	Check      string   `json:"check" required:"true"`
	EnvoyImage string   `json:"envoyImage,omitempty"`
	Mounts     []string `json:"mounts,omitempty"`
	Content    []byte   `json:"contentBase64" required:"true"`
}

var imageRef = regexp.MustCompile(`^[a-z0-9._/:-]+(@sha256:[0-9a-f]{64})?$`)

func (r *installFileRequest) validate() error {
	switch r.Check {
	case "none", "nft", "ecosystem":
		if r.EnvoyImage != "" || len(r.Mounts) > 0 {
			return fmt.Errorf(`"envoyImage" and "mounts" are for check "envoy", not %q`, r.Check)
		}
	case "envoy":
		if r.EnvoyImage == "" {
			return errors.New(`check "envoy" needs "envoyImage"`)
		}
		if !imageRef.MatchString(r.EnvoyImage) {
			return fmt.Errorf(`"envoyImage" %q is not an image reference`, r.EnvoyImage)
		}
		for _, mount := range r.Mounts {
			if !strings.HasPrefix(mount, "/") || strings.ContainsAny(mount, ":,") {
				return fmt.Errorf(`mount %q is not an absolute path without ':' or ','`, mount)
			}
		}
	default:
		return fmt.Errorf("unknown check '%s' (none, nft, ecosystem or envoy)", r.Check)
	}
	if _, err := fsafe.Mode(r.Mode); err != nil {
		return err
	}
	if len(r.Content) > limits.MaxFileBytes {
		return fmt.Errorf("%s: not written: the new content is %s", r.Path, fsafe.TooLarge(int64(len(r.Content))))
	}
	return nil
}

func runInstallFile(c *call, req *installFileRequest) (writeResult, error) {
	if err := checkContent(c, req); err != nil {
		return writeResult{}, err
	}
	written, err := writeFile(c, req.Path, req.Mode, req.Owner, req.Content)
	return writeResult{written}, err
}

// checkContent judges the new content with the request's check; nothing on the host has changed yet.
func checkContent(c *call, req *installFileRequest) error {
	switch req.Check {
	case "nft":
		nft, err := c.program("nft", "nft is missing: install Debian's nftables package")
		if err != nil {
			return err
		}
		staged, err := stage(req.Path, req.Content)
		if err != nil {
			return err
		}
		err = c.run(program{what: "nft -c", argv: []string{nft, "-c", "-f", staged}, seconds: limits.NftCheckSeconds})
		if interrupted(err) {
			return fmt.Errorf("%s: %s; the installed one is unchanged", req.Path, err)
		}
		if err != nil {
			return fmt.Errorf("%s: nft rejected the new ruleset; the installed one is unchanged", req.Path)
		}
	case "ecosystem":
		return checkEcosystem(c, req)
	case "envoy":
		return validateEnvoy(c, req)
	}
	return nil
}

// stage writes new content where only root can reach it, on tmpfs (a secret never touches a disk on
// its way), under the target's own name (validators go by the extension), for a check that needs a
// file. Removed however the run ends.
func stage(target string, content []byte) (string, error) {
	dir, err := os.MkdirTemp("/run", "limen-host.")
	if err != nil {
		return "", fmt.Errorf("cannot make a stage for the new content: %w", err)
	}
	cleanups.add(func() { os.RemoveAll(dir) })
	staged := filepath.Join(dir, filepath.Base(target))
	f, err := os.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write(content)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
	}
	if err != nil {
		return "", fmt.Errorf("cannot stage the new content: %w", err)
	}
	return staged, nil
}

// ecosystemCheck: the rendered ecosystem is `module.exports = <JSON>;` after comment lines, so it is
// judged by parsing it as data (loading it with require() would run uploaded code).
const ecosystemCheck = `
const text = require("fs").readFileSync(0, "utf8").replace(/^(\/\/.*\n)*/, "");
const match = /^module\.exports = ([\s\S]*);\n?$/.exec(text);
if (!match) process.exit(1);
const apps = JSON.parse(match[1]).apps;
if (!Array.isArray(apps) || apps.length === 0) process.exit(1);
`

// checkEcosystem: node, resolved and trusted as every program root runs, reads the content from
// stdin as nobody.
func checkEcosystem(c *call, req *installFileRequest) error {
	node, err := c.program("node", "node is missing: the ecosystem check needs Node.js")
	if err != nil {
		return err
	}
	nobody, err := lookupAccount(user.Lookup("nobody"))
	if err != nil {
		return fmt.Errorf("cannot run the ecosystem check as nobody: %w", err)
	}
	err = c.run(program{what: "node (the ecosystem check)", argv: []string{node, "-e", ecosystemCheck}, stdin: req.Content, seconds: limits.EcosystemCheckSeconds, as: nobody})
	if interrupted(err) {
		return fmt.Errorf("%s: %s; the installed one is unchanged", req.Path, err)
	}
	if err != nil {
		return fmt.Errorf("%s: the new ecosystem file is not `module.exports = <JSON with an apps array>;`; the installed one is unchanged", req.Path)
	}
	return nil
}

// validateEnvoy: the pinned image judges the file, with the same read-only mounts as the proxy.
// Docker resolves a mount's source as root, and Envoy reads through it as root: only directories
// nobody but root can change are mounted.
func validateEnvoy(c *call, req *installFileRequest) error {
	docker, err := c.program("docker", "docker is missing: the Envoy check runs the pinned image")
	if err != nil {
		return err
	}
	for _, mount := range req.Mounts {
		if err := fsafe.RootDir(mount, nil); err != nil {
			return err
		}
	}
	staged, err := stage(req.Path, req.Content)
	if err != nil {
		return err
	}
	err = envoyValidate(c, docker, req.EnvoyImage, req.Mounts, staged)
	if interrupted(err) {
		return fmt.Errorf("%s: %s; its container was removed; the installed one is unchanged", req.Path, err)
	}
	if err != nil {
		return fmt.Errorf("%s: envoy --mode validate rejected the new config; the installed one is unchanged", req.Path)
	}
	return nil
}

// envoyValidate runs `envoy --mode validate` in image on the staged file, with mounts (checked by the
// caller) read-only. A validation that did not finish is removed, not left running.
func envoyValidate(c *call, docker, image string, mounts []string, staged string) error {
	// Named, so that a validation that does not finish in time is removed, not left running.
	name := fmt.Sprintf("limen-envoy-validate-%d", os.Getpid())
	argv := []string{docker, "run", "--rm", "--network", "none", "-e", "ENVOY_UID=0", "-v", staged + ":/etc/envoy/envoy.yaml:ro"}
	for _, mount := range mounts {
		argv = append(argv, "-v", mount+":"+mount+":ro")
	}
	argv = append(argv, "--name", name, image, "envoy", "--mode", "validate", "-c", "/etc/envoy/envoy.yaml")
	err := c.run(program{what: "envoy --mode validate", argv: argv, seconds: c.seconds("envoy-validate")})
	if interrupted(err) {
		// Stopping the docker client leaves the container running: it goes too, even when the tool
		// itself is being stopped (within the time between the step's SIGTERM and its SIGKILL).
		remover := &call{ctx: context.WithoutCancel(c.ctx)}
		remover.run(program{what: "docker rm", argv: []string{docker, "rm", "--force", name}, seconds: limits.DockerRemoveSeconds, stdout: io.Discard, stderr: io.Discard})
	}
	return err
}

// remove-file: the name is unlinked where it is (a link there goes, never what it points to); a unit
// removed is forgotten by systemd too; directories the stack created under /etc/limen go once empty.
type removeFileRequest struct {
	common
	Path string `json:"path" required:"true"`
}

func (r *removeFileRequest) validate() error { return nil }

// stackConfigDir: the stack's own directory of host files (core/host-paths.ts), whose subdirectories
// it created and removes once empty.
const stackConfigDir = "/etc/limen"

func runRemoveFile(c *call, req *removeFileRequest) (removeResult, error) {
	if err := fsafe.Remove(req.Path); err != nil {
		return removeResult{}, err
	}
	res := removeResult{Path: req.Path, Outcome: "removed"}
	if strings.HasPrefix(req.Path, "/etc/systemd/system/") && isDir("/run/systemd/system") {
		systemctl, err := c.program("systemctl", "systemctl is missing: cannot reload systemd's unit files")
		if err != nil {
			return removeResult{}, err
		}
		if err := c.run(program{what: "systemctl daemon-reload", argv: []string{systemctl, "daemon-reload"}, seconds: limits.SystemctlSeconds}); err != nil {
			return removeResult{}, fmt.Errorf("removed %s, but systemctl daemon-reload failed: %w", req.Path, err)
		}
		res.DaemonReload = true
	}
	if strings.HasPrefix(req.Path, stackConfigDir+"/") {
		if isDir(stackConfigDir) {
			if err := fsafe.RootDir(stackConfigDir, nil); err != nil {
				return removeResult{}, err
			}
		}
		// As `rmdir -p`: from the file's directory up, each while it is empty, /etc/limen the last.
		for dir := filepath.Dir(req.Path); strings.HasPrefix(dir+"/", stackConfigDir+"/"); dir = filepath.Dir(dir) {
			removed, err := fsafe.RemoveEmptyDir(dir)
			if err != nil || !removed {
				break
			}
			res.RemovedDirs = append(res.RemovedDirs, dir)
		}
	}
	return res, nil
}
