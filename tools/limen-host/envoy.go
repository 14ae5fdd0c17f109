package main

// The front door's release (files/limen-host.sh's envoy-release, envoy-settle, envoy-forget): a new
// Envoy config (or image) reaches the door without dropping a request (plan/envoy.ts).
//
// The containers: the serving one (the Docker provider's), the candidate that judges a new config on
// ports the kernel picks on 127.0.0.1, and the standby that serves the new config on the public ports
// beside the serving container (SO_REUSEPORT) while the Docker provider replaces it. Each has its admin
// socket in a root-only directory of its own under the state directory, mounted at /run/limen-envoy;
// the candidate and the standby run on a copy of their config kept beside it.
//
// envoy-release:
//  1. `envoy --mode validate` in the image judges the whole config.
//  2. The candidate runs it on loopback, and the front door's gate (envoy_gate.go) must pass through it.
//  3. in-place (the bootstrap and the image are the serving container's): the clusters, then the
//     listeners (or the other way round: the stack's order) are moved into the directory the container
//     watches; Envoy applies them without closing its sockets. The release waits until Envoy reports
//     both versions as applied, and the gate must pass through the door. If Envoy rejects a file or the
//     gate fails, the previous files come back (from the stack's state) and the command fails, saying so.
//  3. handover (a new bootstrap or image: the Docker provider replaces the container next): with a
//     container serving now, the standby starts on the public ports beside it; the bootstrap and the
//     dynamic files are installed; the serving container drains, so only the standby takes new
//     connections while the container is replaced.
//
// A failure at 1 or 2, or at the standby's start, changes nothing the door serves.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

func init() {
	register("envoy-release", handle(runEnvoyRelease, true))
	register("envoy-settle", handle(runEnvoySettle, true))
	register("envoy-forget", handle(runEnvoyForget, true))
}

const (
	envoyCandidate = "limen-envoy-candidate"
	envoyStandby   = "limen-envoy-standby"
	// readyPause: between two looks at a container that is not ready yet, or at Envoy's stats.
	readyPause = 200 * time.Millisecond
)

// legacyFiles: what versions before 2.0 kept in the state directory (the config that last passed the
// gate, and one it sent back).
var legacyFiles = []string{"envoy-good.yaml", "envoy-good.yaml.door", "envoy-pending.yaml"}

// envoyDoorFields: what every release step names (hostio/host-tool.ts, EnvoyReleaseStep). Each
// request declares them itself (the decoder refuses a missing one by name, and names a field of the
// wrong type as it is in the request), and hands them over with door().
type envoyDoorFields struct {
	Container    string
	StateDir     string
	HTTPSPort    int
	Names        []string
	Seconds      int
	DrainSeconds int
}

var envoyContainerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (f envoyDoorFields) validate() error {
	if !envoyContainerName.MatchString(f.Container) {
		return fmt.Errorf(`"container" %q is not a container name`, f.Container)
	}
	if !filepath.IsAbs(f.StateDir) {
		return fmt.Errorf(`"stateDir" must be an absolute path, got %q`, f.StateDir)
	}
	if f.Seconds < 1 {
		return fmt.Errorf(`"seconds" must be a whole number of seconds above 0, got %d`, f.Seconds)
	}
	if f.DrainSeconds < 1 {
		return fmt.Errorf(`"drainSeconds" must be a whole number of seconds above 0, got %d`, f.DrainSeconds)
	}
	if f.HTTPSPort < 1 || f.HTTPSPort > 65535 {
		return fmt.Errorf(`"httpsPort" must be a port number, got %d`, f.HTTPSPort)
	}
	return validateNames(f.Names)
}

// envoyFiles: envoy-release's files, as base64 (the bash tool's stdin lines `KIND BASE64`).
type envoyFiles struct {
	// Validate: the whole config as one static bootstrap, for `envoy --mode validate`.
	Validate string `json:"validate"`
	// Candidate: the same on ports the kernel picks on 127.0.0.1.
	Candidate string `json:"candidate"`
	// Bootstrap: what the serving container runs.
	Bootstrap string `json:"bootstrap"`
	// Lds, Cds: its dynamic resources.
	Lds string `json:"lds"`
	Cds string `json:"cds"`
	// PreviousLds, PreviousCds: the ones the stack's state holds, for a rollback in place.
	PreviousLds string `json:"previousLds,omitempty"`
	PreviousCds string `json:"previousCds,omitempty"`

	validate, candidate, bootstrap, lds, cds, previousLds, previousCds []byte
}

// decode reads each file's base64, naming a file that is not base64, and refuses a required one that
// is missing or empty or one above the file limit.
func (f *envoyFiles) decode() error {
	for _, file := range []struct {
		kind     string
		text     string
		into     *[]byte
		required bool
	}{
		{"validate", f.Validate, &f.validate, true},
		{"candidate", f.Candidate, &f.candidate, true},
		{"bootstrap", f.Bootstrap, &f.bootstrap, true},
		{"lds", f.Lds, &f.lds, true},
		{"cds", f.Cds, &f.cds, true},
		{"previousLds", f.PreviousLds, &f.previousLds, false},
		{"previousCds", f.PreviousCds, &f.previousCds, false},
	} {
		content, err := base64.StdEncoding.DecodeString(file.text)
		if err != nil {
			return fmt.Errorf(`"files": the %s file is not base64`, file.kind)
		}
		if file.required && len(content) == 0 {
			return fmt.Errorf(`"files" holds no %s file`, file.kind)
		}
		if len(content) > limits.MaxFileBytes {
			return fmt.Errorf(`"files": the %s file is %s`, file.kind, fsafe.TooLarge(int64(len(content))))
		}
		*file.into = content
	}
	return nil
}

// envoy-release: a new Envoy config (or image) to the door.
type envoyReleaseRequest struct {
	common
	// Container: the serving container's name (the Docker provider's).
	Container string `json:"container" required:"true"`
	// StateDir: root's directory of the release (admin sockets, the candidate's and standby's copies).
	StateDir string `json:"stateDir" required:"true"`
	// HTTPSPort: the door's public https port, which the gate asks after a release in place.
	HTTPSPort int `json:"httpsPort" required:"true"`
	// Names: each site's name, asked by the gate as SNI and Host.
	Names []string `json:"names" required:"true"`
	// Seconds: how long a container may take to be ready, Envoy to apply a file, the gate to pass.
	Seconds int `json:"seconds" required:"true"`
	// DrainSeconds: Envoy's --drain-time-s, waited after a drain is asked.
	DrainSeconds int `json:"drainSeconds" required:"true"`
	// Mode: in-place (the serving container stays) or handover (the Docker provider replaces it next).
	Mode string `json:"mode" required:"true"`
	// Config: the serving container's bootstrap on the host (installed at a handover).
	Config string `json:"config" required:"true"`
	// DynamicDir: the directory Envoy watches for its listeners and clusters (lds.yaml, cds.yaml).
	DynamicDir string `json:"dynamicDir" required:"true"`
	// LdsVersion, CdsVersion: the new files' versions, which Envoy reports once it applied them.
	LdsVersion string `json:"ldsVersion" required:"true"`
	CdsVersion string `json:"cdsVersion" required:"true"`
	// Order: which file moves in first, cds-first or lds-first (the stack's moveOrder).
	Order string `json:"order" required:"true"`
	// PreviousLdsVersion, PreviousCdsVersion: the previous files' versions, with previousLds and previousCds.
	PreviousLdsVersion string `json:"previousLdsVersion,omitempty"`
	PreviousCdsVersion string `json:"previousCdsVersion,omitempty"`
	// RollbackOrder: the order a rollback moves the previous files in (default cds-first).
	RollbackOrder string `json:"rollbackOrder,omitempty"`
	// EnvoyImage: the pinned image the validation, the candidate and the standby run.
	EnvoyImage string `json:"envoyImage" required:"true"`
	// Mounts: directories mounted read-only at the same path (the certificates').
	Mounts []string   `json:"mounts,omitempty"`
	Files  envoyFiles `json:"files" required:"true"`
}

// versionText: a version Envoy reports as version_text (the stack's hash of a file).
var versionText = regexp.MustCompile(`^[A-Za-z0-9._:+-]+$`)

func (r *envoyReleaseRequest) door() envoyDoorFields {
	return envoyDoorFields{r.Container, r.StateDir, r.HTTPSPort, r.Names, r.Seconds, r.DrainSeconds}
}

func (r *envoyReleaseRequest) validate() error {
	if err := r.door().validate(); err != nil {
		return err
	}
	if r.Mode != "in-place" && r.Mode != "handover" {
		return fmt.Errorf(`"mode" must be in-place or handover, got %q`, r.Mode)
	}
	for _, path := range []struct{ field, value string }{{"config", r.Config}, {"dynamicDir", r.DynamicDir}} {
		if !filepath.IsAbs(path.value) {
			return fmt.Errorf("%q must be an absolute path, got %q", path.field, path.value)
		}
	}
	for _, order := range []struct{ field, value string }{{"order", r.Order}, {"rollbackOrder", r.RollbackOrder}} {
		if order.value != "" && order.value != "cds-first" && order.value != "lds-first" {
			return fmt.Errorf("%q must be cds-first or lds-first, got %q", order.field, order.value)
		}
	}
	for _, v := range []struct{ field, value string }{
		{"ldsVersion", r.LdsVersion}, {"cdsVersion", r.CdsVersion},
		{"previousLdsVersion", r.PreviousLdsVersion}, {"previousCdsVersion", r.PreviousCdsVersion},
	} {
		if v.value != "" && !versionText.MatchString(v.value) {
			return fmt.Errorf("%q %q is not a version (letters, digits, . _ : + -)", v.field, v.value)
		}
	}
	if (r.PreviousLdsVersion == "") != (r.PreviousCdsVersion == "") {
		return errors.New(`"previousLdsVersion" and "previousCdsVersion" come together`)
	}
	if !imageRef.MatchString(r.EnvoyImage) {
		return fmt.Errorf(`"envoyImage" %q is not an image reference`, r.EnvoyImage)
	}
	for _, mount := range r.Mounts {
		if !strings.HasPrefix(mount, "/") || strings.ContainsAny(mount, ":,") {
			return fmt.Errorf(`mount %q is not an absolute path without ':' or ','`, mount)
		}
	}
	return r.Files.decode()
}

// door: one run of a release step, with what its steps share.
type door struct {
	c *call
	// sub: the subcommand, which begins the bash tool's words for a failure.
	sub    string
	text   bool
	state  string
	docker string
	fields envoyDoorFields
	image  string
	mounts []string
	said   *envoySaid
}

// envoySaid: the lines a step printed (stdout) and its warnings (stderr), as the bash tool printed
// them, in order. With text output each is printed as it happens, so a failure's stdout has the lines
// before it, as the bash tool's had.
type envoySaid struct {
	Lines    []string `json:"lines"`
	Warnings []string `json:"warnings,omitempty"`
}

// envoyStdout, envoyStderr: where text output goes as it happens (the tests' buffers in tests).
var envoyStdout, envoyStderr io.Writer = os.Stdout, os.Stderr

func (d *door) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	d.said.Lines = append(d.said.Lines, line)
	if d.text {
		fmt.Fprintln(envoyStdout, line)
	}
}

func (d *door) warn(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	d.said.Warnings = append(d.said.Warnings, line)
	if d.text {
		fmt.Fprintf(envoyStderr, "limen-host: %s: %s\n", d.sub, line)
	}
}

// doorError: a failure of the release itself, in the bash tool's words: `SUBCOMMAND: MESSAGE` with
// text output (its `die`), MESSAGE alone in JSON (where the tool names the command).
type doorError struct {
	sub  string
	text bool
	msg  string
}

func (e *doorError) Error() string {
	if e.text {
		return e.sub + ": " + e.msg
	}
	return e.msg
}

func (d *door) fail(format string, args ...any) error {
	return &doorError{sub: d.sub, text: d.text, msg: fmt.Sprintf(format, args...)}
}

// newDoor: a step of the release. With needState (envoy_setup): docker is there, and the state
// directory and its admin directory exist and nobody but root can change them.
func newDoor(c *call, sub string, output string, fields envoyDoorFields, needState bool) (*door, error) {
	d := &door{c: c, sub: sub, text: output == "text", state: fields.StateDir, fields: fields, said: &envoySaid{Lines: []string{}}}
	if !needState {
		return d, nil
	}
	docker, err := c.program("docker", "docker is missing: the front door's release runs Envoy's image")
	if err != nil {
		return nil, err
	}
	d.docker = docker
	create := uint32(0o700)
	for _, dir := range []string{d.state, filepath.Join(d.state, "admin")} {
		if err := fsafe.RootDir(dir, &create); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// dockerCall runs the Docker CLI with args; its stdout goes to out (nil: discarded), its stderr to
// errOut (nil: the tool's stderr).
func (d *door) dockerCall(seconds int, out, errOut io.Writer, args ...string) error {
	if out == nil {
		out = io.Discard
	}
	return d.c.run(program{what: "docker " + args[0], argv: append([]string{d.docker}, args...), seconds: seconds, stdout: out, stderr: errOut})
}

// running: `docker inspect --format {{.State.Running}}`: "true", "false", or "gone" when docker says nothing.
func (d *door) running(name string) string {
	var out limitedBuffer
	out.max = 4096
	if err := d.dockerCall(limits.EnvoyDockerSeconds, &out, io.Discard, "inspect", "--format", "{{.State.Running}}", name); err != nil {
		return "gone"
	}
	return strings.TrimSpace(out.String())
}

// remove: the container and its files gone (a container that is not there is no error).
func (d *door) remove(name string) error {
	if d.docker != "" {
		d.dockerCall(limits.EnvoyDockerSeconds, io.Discard, io.Discard, "rm", "--force", name)
	}
	for _, path := range []string{filepath.Join(d.state, "admin", name), filepath.Join(d.state, name+".yaml"), filepath.Join(d.state, name+".dynamic")} {
		if err := fsafe.RemoveTree(path); err != nil {
			return err
		}
	}
	return nil
}

// removeQuietly: remove when the step failed or was stopped: even a stopped tool removes what it
// started (its candidate), and a failure to remove does not hide the failure that led here.
func (d *door) removeQuietly(name string) {
	saved := d.c
	d.c = &call{ctx: context.WithoutCancel(saved.ctx), command: saved.command, deadlines: saved.deadlines, programs: saved.programs}
	defer func() { d.c = saved }()
	if err := d.remove(name); err != nil {
		fmt.Fprintf(envoyStderr, "limen-host: %s\n", err)
	}
}

// start: the container name started detached from the image, as the serving container runs (host
// network, ENVOY_UID=0, the certificate directories read-only), on config (copied beside), with a fresh
// admin directory and, for a bootstrap with dynamic resources, a directory of its own holding copies
// of lds and cds. Not restarted by Docker: a container that stops is a finding, not something to retry.
func (d *door) start(name string, config, lds, cds []byte) error {
	args := []string{"run", "--detach", "--name", name, "--network", "host", "--restart", "no", "-e", "ENVOY_UID=0",
		"--label", "limen.envoy.role=" + strings.TrimPrefix(name, "limen-envoy-"),
		"--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=1"}
	if err := d.remove(name); err != nil {
		return err
	}
	copyPath := filepath.Join(d.state, name+".yaml")
	if _, err := fsafe.Replace(copyPath, "0600", "root:root", config); err != nil {
		return err
	}
	adminDir := filepath.Join(d.state, "admin", name)
	private := uint32(0o700)
	if err := fsafe.RootDir(adminDir, &private); err != nil {
		return err
	}
	args = append(args, "-v", copyPath+":/etc/envoy/envoy.yaml:ro", "-v", adminDir+":/run/limen-envoy")
	if lds != nil {
		dynamic := filepath.Join(d.state, name+".dynamic")
		if err := fsafe.RootDir(dynamic, &private); err != nil {
			return err
		}
		for _, file := range []struct {
			name    string
			content []byte
		}{{"lds.yaml", lds}, {"cds.yaml", cds}} {
			if _, err := fsafe.Replace(filepath.Join(dynamic, file.name), "0600", "root:root", file.content); err != nil {
				return err
			}
		}
		args = append(args, "-v", dynamic+":/etc/envoy/dynamic:ro")
	}
	for _, mount := range d.mounts {
		// Docker resolves a mount's source as root, and Envoy reads through it as root.
		if err := fsafe.RootDir(mount, nil); err != nil {
			return err
		}
		args = append(args, "-v", mount+":"+mount+":ro")
	}
	args = append(args, d.image, "envoy", "-c", "/etc/envoy/envoy.yaml", "--drain-time-s", strconv.Itoa(d.fields.DrainSeconds))
	if err := d.dockerCall(limits.EnvoyDockerSeconds, io.Discard, nil, args...); err != nil {
		return d.fail("docker run %s failed", name)
	}
	return nil
}

// lastWords: `docker logs --tail 5`, both streams, its newlines made spaces and cut at 600 bytes.
func (d *door) lastWords(name string) string {
	var out limitedBuffer
	out.max = 600
	d.dockerCall(limits.EnvoyDockerSeconds, &out, &out, "logs", "--tail", "5", name)
	return strings.ReplaceAll(out.String(), "\n", " ")
}

// waitReady: name's admin says LIVE within seconds; otherwise problem says what name printed (a port
// it cannot bind, a file it cannot read) and what it became. err: the tool was stopped.
func (d *door) waitReady(name string, seconds int) (problem string, err error) {
	started := time.Now()
	for time.Since(started) < time.Duration(seconds)*time.Second {
		if d.c.ctx.Err() != nil {
			return "", &stoppedError{what: "the wait for " + name}
		}
		if answer, err := d.admin(d.adminOf(name), "GET", adminReady); err == nil && strings.TrimRight(answer, "\n") == "LIVE" {
			return "", nil
		}
		if d.running(name) != "true" {
			return fmt.Sprintf("%s stopped before it was ready; its last words: %s", name, d.lastWords(name)), nil
		}
		if err := d.pause(readyPause, name); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s was not ready within %d s; its last words: %s", name, seconds, d.lastWords(name)), nil
}

func (d *door) pause(pause time.Duration, what string) error {
	select {
	case <-d.c.ctx.Done():
		return &stoppedError{what: "the wait for " + what}
	case <-time.After(pause):
		return nil
	}
}

// drain: the Envoy stops taking connections gracefully (its clients are told to close theirs; its
// listeners close after drainSeconds, Envoy's --drain-time-s), and the wait is over when they have
// closed. What is then still connected finishes when the container stops.
func (d *door) drain(at adminAddress) error {
	if _, err := d.admin(at, "POST", adminDrain); err != nil {
		return err
	}
	return d.pause(time.Duration(d.fields.DrainSeconds+1)*time.Second, "the drain")
}

// gateFailure: a gate that did not pass, or could not run, in the words of the step that asked it.
func gateFailure(outcome gateOutcome, err error) string {
	if err != nil {
		return "the gate could not run: " + err.Error()
	}
	return outcome.problem
}

type envoyReleaseResult struct {
	Mode string `json:"mode"`
	// CandidatePort: the port the candidate's https listener was bound to, which the gate asked.
	CandidatePort int `json:"candidatePort"`
	// ContainerRunning: the serving container was running when the candidate had passed.
	ContainerRunning bool `json:"containerRunning"`
	// Standby: the standby serves the new config beside the serving container (handover).
	Standby bool `json:"standby,omitempty"`
	// Drained: the serving container took the drain (handover).
	Drained bool `json:"drained,omitempty"`
	// Installed: the files written, in order.
	Installed []fsafe.Written `json:"installed"`
	envoySaid
}

// text: nothing more; the lines were printed as they happened.
func (envoyReleaseResult) text(io.Writer) error { return nil }

func runEnvoyRelease(c *call, req *envoyReleaseRequest) (envoyReleaseResult, error) {
	d, err := newDoor(c, "envoy-release", req.Output, req.door(), true)
	if err != nil {
		return envoyReleaseResult{}, err
	}
	d.image, d.mounts = req.EnvoyImage, req.Mounts
	res := envoyReleaseResult{Mode: req.Mode, Installed: []fsafe.Written{}}
	err = d.release(req, &res)
	res.envoySaid = *d.said
	return res, err
}

func (d *door) release(req *envoyReleaseRequest, res *envoyReleaseResult) error {
	files := &req.Files
	names := strings.Join(d.fields.Names, ",")
	for _, mount := range d.mounts {
		if err := fsafe.RootDir(mount, nil); err != nil {
			return err
		}
	}
	staged, err := stage("/validate.yaml", files.validate)
	if err != nil {
		return err
	}
	err = envoyValidate(d.c, d.docker, d.image, d.mounts, staged)
	if interrupted(err) {
		return d.fail("%s; its container was removed; nothing changed", err)
	}
	if err != nil {
		return d.fail("envoy --mode validate rejected the new config; nothing changed")
	}

	if err := d.start(envoyCandidate, files.candidate, nil, nil); err != nil {
		d.removeQuietly(envoyCandidate)
		return err
	}
	problem, err := d.waitReady(envoyCandidate, d.fields.Seconds)
	if err != nil || problem != "" {
		d.removeQuietly(envoyCandidate)
		if err != nil {
			return err
		}
		return d.fail("the new config's candidate did not start: %s. Nothing changed: the door serves the previous config", problem)
	}
	listeners, err := d.admin(d.adminOf(envoyCandidate), "GET", adminListeners)
	port := httpsListenerPort(listeners)
	if err != nil || port == 0 {
		d.removeQuietly(envoyCandidate)
		if err != nil {
			return d.fail("the candidate's admin did not say where its listeners are (%s); nothing changed", err)
		}
		return d.fail("the candidate's admin names no bound https listener; nothing changed")
	}
	res.CandidatePort = port
	outcome, gateErr := d.gate(port, d.fields.Names, d.fields.Seconds)
	if interrupted(gateErr) {
		d.removeQuietly(envoyCandidate)
		return gateErr
	}
	if err := d.remove(envoyCandidate); err != nil {
		return err
	}
	if gateErr != nil {
		return d.fail("%s", gateFailure(outcome, gateErr))
	}
	if !outcome.passed {
		return d.fail("the new config failed on its candidate (127.0.0.1:%d): %s. Nothing changed: the door serves the previous config", port, outcome.problem)
	}
	d.say("the new config's candidate passed the gate for %s", names)

	res.ContainerRunning = d.running(d.fields.Container) == "true"
	if req.Mode == "in-place" {
		return d.releaseInPlace(req, res)
	}

	container := d.fields.Container
	if res.ContainerRunning {
		if err := d.start(envoyStandby, files.bootstrap, files.lds, files.cds); err != nil {
			d.removeQuietly(envoyStandby)
			return err
		}
		problem, err := d.waitReady(envoyStandby, d.fields.Seconds)
		if err != nil || problem != "" {
			d.removeQuietly(envoyStandby)
			if err != nil {
				return err
			}
			return d.fail("the standby on the public ports did not start: %s. Nothing changed: the door serves the previous config", problem)
		}
		res.Standby = true
		d.say("%s serves the new config beside %s", envoyStandby, container)
	}

	// What the Docker provider's container mounts; judged above, so installed as it is.
	legacyPort, err := legacyAdminPort(req.Config)
	if err != nil {
		return err
	}
	if err := d.install(res, req.Config, files.bootstrap); err != nil {
		return err
	}
	if err := d.installDynamic(res, req.DynamicDir, files.lds, files.cds, req.Order); err != nil {
		return err
	}
	private := uint32(0o700)
	adminDir := filepath.Join(d.state, "admin", container)
	if err := fsafe.RootDir(adminDir, &private); err != nil {
		return err
	}

	if res.ContainerRunning {
		at := d.adminOf(container)
		socket, err := fsafe.Read(at.socket)
		if err != nil || socket.Kind != fsafe.KindSocket {
			at = adminAddress{port: legacyPort}
		}
		if at.socket != "" || at.port != 0 {
			if err := d.drain(at); err == nil {
				res.Drained = true
				d.say("%s drained; %s takes the new connections", container, envoyStandby)
				return nil
			} else if interrupted(err) {
				return err
			}
		}
		d.warn("%s's admin did not take the drain; the Docker provider stops it as it is", container)
	}
	return nil
}

// install writes one file of the release (0644, root's), as install-file with check none.
func (d *door) install(res *envoyReleaseResult, path string, content []byte) error {
	written, err := writeFile(d.c, path, "0644", "root:root", content)
	if err != nil {
		return err
	}
	res.Installed = append(res.Installed, written)
	d.say("%s", written.Line())
	return nil
}

// installDynamic: both files renamed into dir, the directory Envoy watches. With cds-first the
// clusters go first (a new route finds its cluster); with lds-first the listeners do (a cluster that
// goes away is no longer named by a route). The stack decides which (moveOrder).
func (d *door) installDynamic(res *envoyReleaseResult, dir string, lds, cds []byte, order string) error {
	moves := []struct {
		name    string
		content []byte
	}{{"cds.yaml", cds}, {"lds.yaml", lds}}
	if order == "lds-first" {
		moves[0], moves[1] = moves[1], moves[0]
	}
	for _, move := range moves {
		if err := d.install(res, filepath.Join(dir, move.name), move.content); err != nil {
			return err
		}
	}
	return nil
}

// stats: the admin's answer of a /stats request.
func (d *door) stats(path string) (envoyStats, error) {
	text, err := d.admin(d.adminOf(d.fields.Container), "GET", path)
	if err != nil {
		return nil, err
	}
	return parseStats(text), nil
}

// applied: the serving Envoy reports both versions as applied (problem empty), or it rejected a file
// (an update_rejected count other than before), or seconds pass; problem says which, with what Envoy
// logged about it.
func (d *door) applied(lds, cds, before string) (problem string, err error) {
	started := time.Now()
	seconds := d.fields.Seconds
	for time.Since(started) < time.Duration(seconds)*time.Second {
		if d.c.ctx.Err() != nil {
			return "", &stoppedError{what: "the wait for Envoy's stats"}
		}
		stats, err := d.stats(adminApplied)
		if err == nil {
			if stats.rejected() != before {
				since := int(time.Since(started).Seconds()) + 2
				return "Envoy rejected the new listeners or clusters; it logged: " + d.rejections(since), nil
			}
			if stats.applied(lds, cds) {
				return "", nil
			}
		}
		if err := d.pause(readyPause, "Envoy's stats"); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("Envoy did not report listeners %s and clusters %s as applied within %d s", lds, cds, seconds), nil
}

// rejections: the last three lines of the container's log since seconds ago that speak of a
// rejection or an error (`grep -i -E 'reject|error' | tail -n 3`), made one line, cut at 600 bytes.
func (d *door) rejections(seconds int) string {
	var out tailBuffer
	out.max = limits.EnvoyLogBytes
	d.dockerCall(limits.EnvoyDockerSeconds, &out, &out, "logs", "--since", fmt.Sprintf("%ds", seconds), d.fields.Container)
	lines := strings.Split(out.String(), "\n")
	if out.cut && len(lines) > 0 {
		lines = lines[1:]
	}
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var matching []string
	for _, line := range lines {
		lower := strings.ToLower(line)
		if strings.Contains(lower, "reject") || strings.Contains(lower, "error") {
			matching = append(matching, line)
		}
	}
	if len(matching) > 3 {
		matching = matching[len(matching)-3:]
	}
	text := ""
	for _, line := range matching {
		text += line + " "
	}
	if len(text) > 600 {
		text = text[:600]
	}
	return text
}

// releaseInPlace: step 3 of envoy-release in place.
func (d *door) releaseInPlace(req *envoyReleaseRequest, res *envoyReleaseResult) error {
	files := &req.Files
	container := d.fields.Container
	if !res.ContainerRunning {
		if err := d.installDynamic(res, req.DynamicDir, files.lds, files.cds, req.Order); err != nil {
			return err
		}
		d.warn("%s is not running; its listeners and clusters are installed for its next start", container)
		return nil
	}
	stats, err := d.stats(adminRejected)
	if err != nil {
		return d.fail("%s's admin did not answer; nothing changed", container)
	}
	before := stats.rejected()
	if err := d.installDynamic(res, req.DynamicDir, files.lds, files.cds, req.Order); err != nil {
		return err
	}
	problem, err := d.applied(req.LdsVersion, req.CdsVersion, before)
	if err != nil {
		return err
	}
	if problem == "" {
		outcome, gateErr := d.gate(d.fields.HTTPSPort, d.fields.Names, d.fields.Seconds)
		if interrupted(gateErr) {
			return gateErr
		}
		if gateErr == nil && outcome.passed {
			d.say("Envoy serves listeners %s and clusters %s in place, and the front door answers for %s", req.LdsVersion, req.CdsVersion, strings.Join(d.fields.Names, ","))
			return nil
		}
		problem = gateFailure(outcome, gateErr)
	}
	if len(files.previousLds) == 0 || len(files.previousCds) == 0 || req.PreviousLdsVersion == "" {
		return d.fail("%s. The stack's state holds no previous listeners and clusters to put back", problem)
	}
	before = "0 0"
	if stats, err := d.stats(adminRejected); err == nil {
		before = stats.rejected()
	}
	rollbackOrder := req.RollbackOrder
	if rollbackOrder == "" {
		rollbackOrder = "cds-first"
	}
	if err := d.installDynamic(res, req.DynamicDir, files.previousLds, files.previousCds, rollbackOrder); err != nil {
		return err
	}
	again, err := d.applied(req.PreviousLdsVersion, req.PreviousCdsVersion, before)
	if err != nil {
		return err
	}
	if again != "" {
		return d.fail("%s. Putting back the previous listeners and clusters failed too: %s", problem, again)
	}
	return d.fail("%s. Rolled back: Envoy serves the previous listeners and clusters again (%s, %s); the change is not applied", problem, req.PreviousLdsVersion, req.PreviousCdsVersion)
}

// legacyAdminPort: the admin port of an installed config from before the admin moved to a socket
// (`port_value` under `admin:`), or 0. Root reads it only in a directory nobody else can change, and
// at most the file limit of it.
func legacyAdminPort(config string) (int, error) {
	reading, err := fsafe.Read(config)
	if err != nil {
		return 0, err
	}
	if reading.Kind == fsafe.KindMissing {
		return 0, nil
	}
	if err := fsafe.RootDir(filepath.Dir(config), nil); err != nil {
		return 0, err
	}
	content, err := fsafe.Cat(config)
	if err != nil {
		return 0, nil
	}
	return adminPortIn(string(content)), nil
}

// adminPortIn: the first `port_value:` under a top-level `admin:` (the bash tool's awk), or 0.
func adminPortIn(config string) int {
	inside := false
	for _, line := range strings.Split(config, "\n") {
		if strings.HasPrefix(line, "admin:") {
			inside = true
			continue
		}
		if line != "" && line[0] != ' ' && line[0] != '#' {
			inside = false
		}
		if inside && strings.Contains(line, "port_value:") {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				return 0
			}
			port, err := strconv.Atoi(fields[1])
			if err != nil || port < 1 || port > 65535 {
				return 0
			}
			return port
		}
	}
	return 0
}

// envoy-settle: after the Docker provider created the container (a release, or a repair after
// drift): it must be ready (its admin socket says LIVE) and the door must answer (the gate); then the
// standby drains and goes, with the candidate's and standby's files. When the new container fails, the
// standby keeps serving the new config and the command says so: the next `up` tries again.
type envoySettleRequest struct {
	common
	// Container: the serving container's name (the Docker provider's).
	Container string `json:"container" required:"true"`
	// StateDir: root's directory of the release (admin sockets, the candidate's and standby's copies).
	StateDir string `json:"stateDir" required:"true"`
	// HTTPSPort: the door's public https port, which the gate asks after a release in place.
	HTTPSPort int `json:"httpsPort" required:"true"`
	// Names: each site's name, asked by the gate as SNI and Host.
	Names []string `json:"names" required:"true"`
	// Seconds: how long a container may take to be ready, Envoy to apply a file, the gate to pass.
	Seconds int `json:"seconds" required:"true"`
	// DrainSeconds: Envoy's --drain-time-s, waited after a drain is asked.
	DrainSeconds int `json:"drainSeconds" required:"true"`
}

func (r *envoySettleRequest) door() envoyDoorFields {
	return envoyDoorFields{r.Container, r.StateDir, r.HTTPSPort, r.Names, r.Seconds, r.DrainSeconds}
}

func (r *envoySettleRequest) validate() error { return r.door().validate() }

type envoySettleResult struct {
	// Standby: a standby was serving beside the container; it drained (StandbyDrained) and went.
	Standby        bool `json:"standby"`
	StandbyDrained bool `json:"standbyDrained,omitempty"`
	envoySaid
}

func (envoySettleResult) text(io.Writer) error { return nil }

func runEnvoySettle(c *call, req *envoySettleRequest) (envoySettleResult, error) {
	d, err := newDoor(c, "envoy-settle", req.Output, req.door(), true)
	if err != nil {
		return envoySettleResult{}, err
	}
	var res envoySettleResult
	err = d.settle(&res)
	res.envoySaid = *d.said
	return res, err
}

func (d *door) settle(res *envoySettleResult) error {
	container := d.fields.Container
	var ps limitedBuffer
	ps.max = 4096
	if d.dockerCall(limits.EnvoyDockerSeconds, &ps, nil, "ps", "--quiet", "--filter", "name=^"+envoyStandby+"$") == nil {
		res.Standby = strings.TrimSpace(ps.String()) != ""
	}
	problem, err := d.waitReady(container, d.fields.Seconds)
	if err != nil {
		return err
	}
	if problem != "" {
		if res.Standby {
			return d.fail("%s. %s still serves the new config on the public ports; the next `pulumi up` tries again", problem, envoyStandby)
		}
		return d.fail("%s", problem)
	}
	// A container that is draining is the one the release drained, not a new one: retiring the
	// standby would shut the door.
	if info, err := d.admin(d.adminOf(container), "GET", adminInfo); err != nil || !serverLive(info) {
		if res.Standby {
			return d.fail("%s is not live (it is the drained one: the Docker provider did not replace it); %s still serves the new config on the public ports", container, envoyStandby)
		}
		return d.fail("%s is not live", container)
	}
	outcome, err := d.gate(d.fields.HTTPSPort, d.fields.Names, d.fields.Seconds)
	if interrupted(err) {
		return err
	}
	if err != nil || !outcome.passed {
		return d.fail("%s", gateFailure(outcome, err))
	}
	if res.Standby {
		if err := d.drain(d.adminOf(envoyStandby)); err == nil {
			res.StandbyDrained = true
		} else if interrupted(err) {
			return err
		} else {
			d.warn("%s's admin did not take the drain; stopped as it is", envoyStandby)
		}
		d.dockerCall(limits.EnvoyStandbyStopSeconds, io.Discard, io.Discard, "stop", "--time", "10", envoyStandby)
	}
	if err := d.forgetContainers(); err != nil {
		return err
	}
	d.say("the front door answers for %s through %s", strings.Join(d.fields.Names, ","), container)
	return nil
}

// forgetContainers: the standby and the candidate gone with their files, and the files versions
// before 2.0 kept.
func (d *door) forgetContainers() error {
	for _, name := range []string{envoyStandby, envoyCandidate} {
		if err := d.remove(name); err != nil {
			return err
		}
	}
	for _, name := range legacyFiles {
		if err := fsafe.Remove(filepath.Join(d.state, name)); err != nil {
			return err
		}
	}
	return nil
}

// envoy-forget: with Envoy removed, the release's leftovers go (candidate, standby, admin directories).
type envoyForgetRequest struct {
	common
	StateDir string `json:"stateDir" required:"true"`
}

func (r *envoyForgetRequest) validate() error {
	if !filepath.IsAbs(r.StateDir) {
		return fmt.Errorf(`"stateDir" must be an absolute path, got %q`, r.StateDir)
	}
	return nil
}

type envoyForgetResult struct {
	StateDir string `json:"stateDir"`
	// Removed: whether there was a state directory to clean.
	Removed bool `json:"removed"`
}

func (envoyForgetResult) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, "the front door release's files removed")
	return err
}

func runEnvoyForget(c *call, req *envoyForgetRequest) (envoyForgetResult, error) {
	res := envoyForgetResult{StateDir: req.StateDir}
	reading, err := fsafe.Read(req.StateDir)
	if err != nil {
		return res, err
	}
	if reading.Kind == fsafe.KindMissing {
		return res, nil
	}
	if err := fsafe.RootDir(req.StateDir, nil); err != nil {
		return res, err
	}
	d := &door{c: c, sub: "envoy-forget", state: req.StateDir, said: &envoySaid{}}
	// With docker gone too, there is no container to remove: the files still go.
	d.docker, _ = c.program("docker", "")
	if err := d.forgetContainers(); err != nil {
		return res, err
	}
	if err := fsafe.RemoveTree(filepath.Join(req.StateDir, "admin")); err != nil {
		return res, err
	}
	res.Removed = true
	return res, nil
}

// limitedBuffer keeps the first max bytes written and takes (discards) the rest, so that a program
// is never blocked on its output.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written; cut says whether anything before them was dropped.
type tailBuffer struct {
	buf []byte
	max int
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }
