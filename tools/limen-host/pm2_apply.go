package main

// pm2-apply: the apps' release (files/limen-host.sh's cmd_pm2_apply). The request holds the planned
// files and the ones of the version the stack last deployed (from its state, secrets included), which
// come back when the new ones fail; nothing about a deploy stays on the host. The planned files are
// installed (the same validated install as any file), then, with a gate, a candidate of them must pass
// the health gate before the serving apps are touched (pm2/apply.js); if it does not, the previous
// files come back and nothing else changed. Then the apps are started or reloaded and must come online
// and pass the gate in that time; if they do not, the previous files come back, the apps are reloaded
// and checked again, and the command fails saying what it saw and that it rolled back. The stack's
// state keeps the previous version, so the next `pulumi up` tries the change again.

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

//go:embed pm2/apply.js
var pm2ApplyScript string

func init() {
	apply := handle(runPM2Apply, true)
	apply.maxRequestBytes = limits.MaxPM2ApplyRequestBytes
	register("pm2-apply", apply)
}

type pm2ApplyRequest struct {
	common
	User string `json:"user" required:"true"`
	// Ecosystem: pm2's ecosystem file (one of the files, check "ecosystem").
	Ecosystem string `json:"ecosystem" required:"true"`
	// Apps: the pm2 apps of the ecosystem that must come online (and have candidates).
	Apps      []string `json:"apps" required:"true"`
	MarkerDir string   `json:"markerDir" required:"true"`
	// Loaded: the files the apps load, in order: the planned files' paths, and the previous ones'.
	Loaded []string `json:"loaded" required:"true"`
	// Gate: the health gate; none: the apps must come online within 60 s, and no candidate runs.
	Gate *pm2Gate `json:"gate,omitempty"`
	// Files: the planned files (set "new") and the ones deployed before (set "previous"; none: the
	// host's own files at the loaded paths are what comes back).
	Files []releaseFile `json:"files" required:"true"`
}

// pm2Gate: the health gate (pm2/apply.js says what it checks).
type pm2Gate struct {
	// Seconds: the time the candidates, and the reloaded apps, have to pass it.
	Seconds    int    `json:"seconds"`
	SessionURL string `json:"sessionUrl"`
	PageURL    string `json:"pageUrl"`
}

// releaseFile: one file of a set (hostio/host-tool.ts, ReleaseFile).
type releaseFile struct {
	// Set: "new" (planned) or "previous" (deployed before).
	Set   string `json:"set"`
	Path  string `json:"path"`
	Mode  string `json:"mode"`
	Owner string `json:"owner"`
	// Check: "ecosystem" (judged as data before it is installed) or "none".
	Check   string `json:"check"`
	Content []byte `json:"contentBase64"`
}

var (
	releaseMode  = regexp.MustCompile(`^0[0-7]{3}$`)
	releaseOwner = regexp.MustCompile(`^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$`)
)

func (r *pm2ApplyRequest) validate() error {
	if err := checkUser(r.User); err != nil {
		return err
	}
	if err := checkAbsolute("ecosystem", r.Ecosystem); err != nil {
		return err
	}
	if err := checkApps(r.Apps); err != nil {
		return err
	}
	if err := checkAbsolute("markerDir", r.MarkerDir); err != nil {
		return err
	}
	if err := checkLoaded(r.Loaded); err != nil {
		return err
	}
	if g := r.Gate; g != nil {
		if g.Seconds < 1 {
			return fmt.Errorf(`"gate": "seconds" must be a whole number of seconds above 0, got %d`, g.Seconds)
		}
		for _, u := range []struct{ field, text string }{{"sessionUrl", g.SessionURL}, {"pageUrl", g.PageURL}} {
			if parsed, err := url.Parse(u.text); err != nil || parsed.Scheme != "http" || parsed.Port() == "" {
				return fmt.Errorf(`"gate": %q must be an http URL with the port of an app, got %q`, u.field, u.text)
			}
		}
	}
	for _, f := range r.Files {
		switch {
		case f.Set != "new" && f.Set != "previous":
			return fmt.Errorf(`"files": a file of set '%s', not new or previous`, f.Set)
		case !strings.HasPrefix(f.Path, "/"):
			return fmt.Errorf(`"files": path '%s' is not absolute`, f.Path)
		case !releaseMode.MatchString(f.Mode):
			return fmt.Errorf(`"files": mode '%s' for %s is not an octal mode`, f.Mode, f.Path)
		case !releaseOwner.MatchString(f.Owner):
			return fmt.Errorf(`"files": owner '%s' for %s is not user:group`, f.Owner, f.Path)
		case f.Check != "none" && f.Check != "ecosystem":
			return fmt.Errorf(`"files": check '%s' for %s is not none or ecosystem`, f.Check, f.Path)
		case len(f.Content) > limits.MaxFileBytes:
			return fmt.Errorf("%s: not written: the new content is %s", f.Path, fsafe.TooLarge(int64(len(f.Content))))
		}
	}
	return nil
}

type pm2ApplyResult struct {
	User string   `json:"user"`
	Apps []string `json:"apps"`
	// Candidate: a candidate of the new files passed the gate before the serving apps were reloaded.
	Candidate bool `json:"candidate"`
	// FirstReload: what the first reload saw, when the apps passed only on a second reload with the
	// same files (the ones they last passed the gate with).
	FirstReload string `json:"firstReload,omitempty"`
}

func (r pm2ApplyResult) text(w io.Writer) error {
	apps := strings.Join(r.Apps, ",")
	if r.FirstReload != "" {
		_, err := fmt.Fprintf(w, "pm2 apps online: %s (on a second reload with the same files; the first: %s)\n", apps, r.FirstReload)
		return err
	}
	_, err := fmt.Fprintf(w, "pm2 apps online: %s\n", apps)
	return err
}

// pm2Apply: one run of cmd_pm2_apply.
type pm2Apply struct {
	c    *call
	req  *pm2ApplyRequest
	user *pm2User
	node string
	pkg  string
}

// named: a failure in cmd_pm2_apply's words, which name the subcommand first.
func named(format string, args ...any) error {
	return &namedError{fmt.Errorf(format, args...)}
}

func runPM2Apply(c *call, req *pm2ApplyRequest) (pm2ApplyResult, error) {
	res := pm2ApplyResult{User: req.User, Apps: req.Apps}
	run := &pm2Apply{c: c, req: req}
	var err error
	if run.pkg, err = c.pm2Package(); err != nil {
		return res, err
	}
	if run.node, err = c.program("node", "node is not installed on this host (not found on PATH)"); err != nil {
		return res, err
	}
	if run.user, err = lookupPM2User(req.User); err != nil {
		return res, err
	}
	dirMode := uint32(0o755)
	if err := fsafe.RootDir(req.MarkerDir, &dirMode); err != nil {
		return res, err
	}
	if err := forgetEarlierCopies(req.User, req.MarkerDir); err != nil {
		return res, err
	}
	var planned, previous []releaseFile
	for _, f := range req.Files {
		if f.Set == "new" {
			planned = append(planned, f)
		} else {
			previous = append(previous, f)
		}
	}
	loaded := strings.Join(req.Loaded, ",")
	if paths(planned) != loaded {
		return res, named("stdin's planned files (%s) are not the files the apps load (%s)", paths(planned), loaded)
	}
	if len(previous) == 0 {
		if previous, err = run.currentSet(); err != nil {
			return res, err
		}
	} else if paths(previous) != loaded {
		return res, named("stdin's previous files (%s) are not the files the apps load (%s)", paths(previous), loaded)
	}
	hasPrevious := len(previous) > 0
	changed := !hasPrevious || !sameContents(previous, planned)
	if err := c.installSet(planned); err != nil {
		return res, err
	}
	// A candidate first when the files are a new version; the same version (a repair, say, of apps
	// deleted by hand) already passed the gate and is not judged again before it serves.
	res.Candidate = req.Gate != nil && changed
	status, problem, err := run.reloadAndGate(res.Candidate)
	if err != nil {
		return res, err
	}
	if status == 0 {
		_, err := markLoaded(req.User, req.MarkerDir, req.Loaded)
		return res, err
	}
	if status == 3 {
		// The candidate failed: the serving apps never saw the change; the files they run with come back.
		problem = strings.TrimPrefix(problem, "limen-host: pm2-apply: ")
		if !hasPrevious {
			return res, named("%s. The serving apps were not touched; there are no earlier files to put back (a first deploy), so the new ones stay in place, not loaded", problem)
		}
		if err := c.installSet(previous); err != nil {
			return res, err
		}
		return res, named("%s. Rolled back: the serving apps were not touched, and the previous ecosystem and .env.production are in place again; the change is not applied", problem)
	}
	if status != 2 || req.Gate == nil {
		return res, scriptFailure(problem)
	}
	problem = strings.TrimPrefix(problem, "limen-host: pm2-apply: ")
	if !hasPrevious {
		return res, named("%s; there are no earlier files to put back (a first deploy), so nothing was rolled back", problem)
	}
	if !changed {
		// The files are the ones the apps last passed with: nothing to roll back to. What failed was the
		// processes' change, such as a reload that moves the apps' address, whose new processes cannot
		// bind until the old ones are gone: the apps are reloaded once more with the same files.
		againStatus, again, err := run.reloadAndGate(false)
		if err != nil {
			return res, err
		}
		if againStatus != 0 {
			return res, named("%s; the files are the ones the apps last passed the gate with, and a second reload failed too: %s", problem, strings.TrimPrefix(again, "limen-host: pm2-apply: "))
		}
		if _, err := markLoaded(req.User, req.MarkerDir, req.Loaded); err != nil {
			return res, err
		}
		res.FirstReload = problem
		return res, nil
	}
	if err := c.installSet(previous); err != nil {
		return res, err
	}
	started := time.Now()
	againStatus, again, err := run.reloadAndGate(false)
	if err != nil {
		return res, err
	}
	if againStatus == 0 {
		if _, err := markLoaded(req.User, req.MarkerDir, req.Loaded); err != nil {
			return res, err
		}
		return res, named("%s. Rolled back: the previous ecosystem and .env.production are in place again and the apps passed the gate with them in %d s; the change is not applied", problem, int(time.Since(started).Seconds()))
	}
	return res, named("%s. Rolled back to the previous ecosystem and .env.production, but the apps fail with them too: %s", problem, strings.TrimPrefix(again, "limen-host: pm2-apply: "))
}

// paths: a set's paths, comma-separated, in order (as loaded lists them).
func paths(set []releaseFile) string {
	var out []string
	for _, f := range set {
		out = append(out, f.Path)
	}
	return strings.Join(out, ",")
}

// sameContents: the two sets hold the same contents, file by file (the bash tool compared one sha256
// over each set's contents; the paths are the loaded ones in both).
func sameContents(a, b []releaseFile) bool {
	return slices.EqualFunc(a, b, func(x, y releaseFile) bool { return bytes.Equal(x.Content, y.Content) })
}

// currentSet: the previous set from the host's own files, when the stack's state had none to give
// (the first deploy after an upgrade from a version that kept no such state): what serves now is what
// comes back. Read as limen-file reads (a link or a FIFO is no file, and ends the set empty).
func (run *pm2Apply) currentSet() ([]releaseFile, error) {
	var set []releaseFile
	for _, path := range run.req.Loaded {
		reading, err := fsafe.Read(path)
		if err != nil {
			return nil, err
		}
		if reading.Kind != fsafe.KindFile {
			return nil, nil
		}
		content, err := fsafe.Cat(path)
		if err != nil {
			return nil, err
		}
		check := "none"
		if path == run.req.Ecosystem {
			check = "ecosystem"
		}
		set = append(set, releaseFile{Set: "previous", Path: path, Mode: reading.Mode, Owner: reading.Owner, Check: check, Content: content})
	}
	return set, nil
}

// installSet: every file of the set at its path, through the same validated install as any file
// (the ecosystem checked as data first).
func (c *call) installSet(set []releaseFile) error {
	for _, f := range set {
		req := &installFileRequest{Path: f.Path, Mode: f.Mode, Owner: f.Owner, Check: f.Check, Content: f.Content}
		if err := checkContent(c, req); err != nil {
			return err
		}
		if _, err := writeFile(c, f.Path, f.Mode, f.Owner, f.Content); err != nil {
			return err
		}
	}
	return nil
}

// reloadAndGate: one run of pm2/apply.js by the trusted node, as the apps' user, with a candidate
// first or without (a rollback to files that passed). pm2's own output is discarded; the script's
// status and what it said on stderr are returned. err: the script did not run, or was stopped.
func (run *pm2Apply) reloadAndGate(candidate bool) (int, string, error) {
	c, req := run.c, run.req
	mode, seconds := "none", limits.DefaultAppsOnlineSeconds
	if candidate {
		mode = "candidate"
	}
	if req.Gate != nil {
		seconds = req.Gate.Seconds
	}
	argv := []string{run.node, "-e", pm2ApplyScript, run.pkg, strconv.Itoa(c.seconds("pm2-call")), strconv.Itoa(c.seconds("gate-request")),
		req.Ecosystem, strings.Join(req.Apps, ","), run.user.name, strconv.Itoa(seconds), mode}
	if req.Gate != nil {
		argv = append(argv, req.Gate.SessionURL, req.Gate.PageURL)
	}
	var stderr bytes.Buffer
	err := c.run(program{
		what:    "node (pm2-apply's script on pm2's API, as " + run.user.name + ")",
		argv:    argv,
		seconds: limits.PM2ApplyScriptSeconds(seconds, len(req.Apps), c.seconds("pm2-call"), c.seconds("gate-request")),
		as:      run.user.account,
		env:     run.user.env(),
		stdout:  io.Discard,
		stderr:  &stderr,
	})
	problem := strings.TrimRight(stderr.String(), "\n")
	var exit *exec.ExitError
	if err == nil {
		return 0, problem, nil
	}
	if !errors.As(err, &exit) {
		return 0, problem, err
	}
	// 3, 2 or 1 from the script; a node that died of a signal or stopped before the script's own
	// words (a fault of node or pm2's module) fails as pm2 being unreachable does.
	status := exit.ExitCode()
	if status < 1 {
		status = 1
	}
	if problem == "" {
		problem = fmt.Sprintf("limen-host: pm2-apply: node (pm2's API) failed without a word (%s)", err)
	}
	return status, problem, nil
}

// scriptFailure: the script's own words, or, when it said nothing, that it failed.
func scriptFailure(problem string) error {
	if rest, ok := strings.CutPrefix(problem, "limen-host: pm2-apply: "); ok {
		return &namedError{errors.New(rest)}
	}
	return errors.New(strings.TrimPrefix(problem, "limen-host: "))
}
