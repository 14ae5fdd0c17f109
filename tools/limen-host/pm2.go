package main

// The pm2 apps: pm2-enable, pm2-save, pm2-mark-loaded and pm2-remove (files/limen-host.sh's
// subcommands of the same names); pm2-apply, the release, is in pm2_apply.go. pm2 runs as the apps'
// user; `pm2 startup` gives it a systemd unit that resurrects the saved process list at boot, and `pm2
// save` after every change keeps that list current.
//
// pm2's daemon is the apps' cluster master. Node's default (round-robin) scheduling has the master
// accept every connection and pass it to a worker over IPC; a connection passed to a worker that exits
// before it reads the message is never answered (measured in the lab: one or two requests hung per 20
// rolling reloads). With NODE_CLUSTER_SCHED_POLICY=none each worker accepts from the shared socket
// itself, and a stopping worker leaves what it has not accepted to the others. It is read when the
// daemon starts: the unit gets it from a drop-in (pm2-enable), and a daemon this tool's pm2 calls start
// gets it from their environment.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

func init() {
	register("pm2-enable", handle(runPM2Enable, true))
	register("pm2-save", handle(runPM2Save, true))
	register("pm2-remove", handle(runPM2Remove, true))
	// It only reads files and writes the record: no program runs, so no PATH check (as limen-file's commands).
	register("pm2-mark-loaded", handle(runPM2MarkLoaded, false))
}

const clusterSchedEnv = "NODE_CLUSTER_SCHED_POLICY=none"

var (
	// unixUserName: config/schema/fields.ts's unixUser; the name goes into a file name (loaded-USER.sha256).
	unixUserName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	// pm2AppName: config/schema/apps.ts's pm2 process name; it goes into pm2's argv (`pm2 delete NAME`).
	pm2AppName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	// timerUnit: a systemd timer's unit name, for systemctl's argv.
	timerUnit = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9@._:-]*\.timer$`)
)

func checkUser(name string) error {
	if !unixUserName.MatchString(name) {
		return fmt.Errorf(`"user" must be a Unix user name (lower-case letters, digits, _ and -, starting with a letter or _), got %q`, name)
	}
	return nil
}

func checkApps(apps []string) error {
	if len(apps) == 0 {
		return errors.New(`"apps" must list at least one pm2 app`)
	}
	for _, app := range apps {
		if !pm2AppName.MatchString(app) {
			return fmt.Errorf(`"apps": %q is not a pm2 process name (lower-case letters, digits, _, . and -)`, app)
		}
	}
	return nil
}

func checkAbsolute(field, path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%q must be an absolute path, got %q", field, path)
	}
	return nil
}

func checkTimer(timer string) error {
	if timer != "" && !timerUnit.MatchString(timer) {
		return fmt.Errorf(`"logRotationTimer" must be a systemd timer's unit name (NAME.timer), got %q`, timer)
	}
	return nil
}

// pm2User: the apps' user, as pm2 runs for it.
type pm2User struct {
	*account
	home string
}

func lookupPM2User(name string) (*pm2User, error) {
	u, err := user.Lookup(name)
	if err != nil || u.HomeDir == "" {
		return nil, fmt.Errorf("user %s does not exist", name)
	}
	a, err := lookupAccount(u, nil)
	if err != nil {
		return nil, err
	}
	return &pm2User{account: a, home: u.HomeDir}, nil
}

// env: the whole environment of the user's pm2 and node, as `sudo -u USER -H env PM2_HOME=… ` gave it:
// the user's home and pm2's, the cluster scheduling, and root's PATH (checked before anything runs;
// pm2's CLI is a `#!/usr/bin/env node` script).
func (u *pm2User) env() []string {
	return []string{"HOME=" + u.home, "PM2_HOME=" + u.home + "/.pm2", clusterSchedEnv, "PATH=" + os.Getenv("PATH")}
}

// pm2As runs `pm2 ARGS` as the user, within the pm2-call deadline: the user can stop its daemon,
// which then accepts the CLI's connection and never answers. pm2's stdout is discarded, and its stderr
// too when quiet (deleting an app it does not have).
func (c *call) pm2As(u *pm2User, quiet bool, args ...string) error {
	pm2, err := c.program("pm2", "pm2 is not installed on this host")
	if err != nil {
		return err
	}
	words := strings.Join(args, " ")
	var stderr io.Writer
	if quiet {
		stderr = io.Discard
	}
	seconds := c.seconds("pm2-call")
	err = c.run(program{what: "pm2 " + words, argv: append([]string{pm2}, args...), seconds: seconds, as: u.account, env: u.env(), stdout: io.Discard, stderr: stderr})
	var deadline *deadlineError
	if errors.As(err, &deadline) {
		return fmt.Errorf("pm2 did not answer `pm2 %s` for %s within %d s: its daemon is stopped or wedged (`sudo -u %s pm2 ping`)", words, u.name, seconds, u.name)
	}
	return err
}

// pm2Package: the directory of the pm2 package whose CLI is on PATH (npm installs it as
// <package>/bin/pm2): the installed pm2, whatever its version.
func (c *call) pm2Package() (string, error) {
	pm2, err := c.program("pm2", "pm2 is not installed on this host")
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(pm2)), nil
}

// pm2AsRoot runs pm2's CLI as root (`pm2 startup`, `pm2 unstartup`), within the pm2-call deadline,
// after checking that nobody but root can change pm2's whole package (node and pm2's own file were
// checked with PATH). pm2's stdout is discarded.
func (c *call) pm2AsRoot(stderr io.Writer, args ...string) error {
	pkg, err := c.pm2Package()
	if err != nil {
		return err
	}
	if err := fsafe.RootDir(pkg, nil); err != nil {
		return err
	}
	pm2, _ := c.program("pm2", "")
	return c.run(program{what: "pm2 " + strings.Join(args, " "), argv: append([]string{pm2}, args...), seconds: c.seconds("pm2-call"), stdout: io.Discard, stderr: stderr})
}

// systemdUnitDir: where `pm2 startup` writes pm2's unit, and the drop-in goes (a test's scratch
// directory in the Go tests).
var systemdUnitDir = "/etc/systemd/system"

// pm2UnitDropin: the drop-in that gives pm2's unit the cluster scheduling above.
func pm2UnitDropin(user string) string {
	return systemdUnitDir + "/pm2-" + user + ".service.d/limen-cluster.conf"
}

const pm2DropinText = "# Written by limen-host (pm2-enable): see cluster_sched_env there.\n[Service]\nEnvironment=" + clusterSchedEnv

// systemctl runs `systemctl ARGS` within seconds; its output goes to the tool's stderr.
func (c *call) systemctl(seconds int, args ...string) error {
	systemctl, err := c.program("systemctl", "systemctl is missing: systemd runs pm2's unit")
	if err != nil {
		return err
	}
	err = c.run(program{what: "systemctl " + strings.Join(args, " "), argv: append([]string{systemctl}, args...), seconds: seconds})
	if err != nil && !interrupted(err) {
		return fmt.Errorf("systemctl %s failed: %w", strings.Join(args, " "), err)
	}
	return err
}

// systemctlAsks runs a question (`systemctl is-enabled --quiet UNIT`): its answer is its exit status.
func (c *call) systemctlAsks(args ...string) (bool, error) {
	systemctl, err := c.program("systemctl", "systemctl is missing: systemd runs pm2's unit")
	if err != nil {
		return false, err
	}
	err = c.run(program{what: "systemctl " + strings.Join(args, " "), argv: append([]string{systemctl}, args...), seconds: limits.SystemctlSeconds})
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return false, nil
	}
	return err == nil, err
}

// systemctlShows is one property's value (`systemctl show --property=NAME --value UNIT`).
func (c *call) systemctlShows(property, unit string) (string, error) {
	systemctl, err := c.program("systemctl", "systemctl is missing: systemd runs pm2's unit")
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = c.run(program{what: "systemctl show " + unit, argv: []string{systemctl, "show", "--property=" + property, "--value", unit}, seconds: limits.SystemctlSeconds, stdout: &out})
	if interrupted(err) {
		return "", err
	}
	return strings.TrimRight(out.String(), "\n"), nil
}

// present: something is at path (read as limen-file reads: never followed, never waited on). A path
// root cannot read safely counts as present, so that root does not write there.
func present(path string) (bool, error) {
	reading, err := fsafe.Read(path)
	return reading.Kind != fsafe.KindMissing, err
}

// pm2-enable: pm2's boot unit for the user (with the cluster drop-in), enabled and started; with
// logRotationTimer, the timer that rotates pm2's logs (its units installed as files), enabled and
// started. home is the plan's home of the user (limen:apps.home): pm2 keeps its logs there, and the
// rotation's config names them, so a host where the user's home is another is refused.
type pm2EnableRequest struct {
	common
	User      string `json:"user" required:"true"`
	MarkerDir string `json:"markerDir" required:"true"`
	// Home: the user's home as the plan has it; refused when the host's is another.
	Home string `json:"home,omitempty"`
	// LogRotationTimer: the unit of the timer that rotates pm2's logs (installed as files before).
	LogRotationTimer string `json:"logRotationTimer,omitempty"`
}

func (r *pm2EnableRequest) validate() error {
	if err := checkUser(r.User); err != nil {
		return err
	}
	if err := checkAbsolute("markerDir", r.MarkerDir); err != nil {
		return err
	}
	if r.Home != "" {
		if err := checkAbsolute("home", r.Home); err != nil {
			return err
		}
	}
	return checkTimer(r.LogRotationTimer)
}

type pm2EnableResult struct {
	User string `json:"user"`
	// Dropin: the cluster drop-in, when it was written (it was missing or other).
	Dropin *fsafe.Written `json:"dropin,omitempty"`
	// Startup: `pm2 startup` wrote pm2's unit for the user (it was missing).
	Startup bool `json:"startup"`
	// LogRotationTimer: the timer enabled and started.
	LogRotationTimer string `json:"logRotationTimer,omitempty"`
}

func (r pm2EnableResult) text(w io.Writer) error {
	if r.Dropin != nil {
		if _, err := fmt.Fprintln(w, r.Dropin.Line()); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "pm2 enabled for %s\n", r.User)
	return err
}

func runPM2Enable(c *call, req *pm2EnableRequest) (pm2EnableResult, error) {
	res := pm2EnableResult{User: req.User}
	if _, err := c.program("pm2", "pm2 is not installed on this host"); err != nil {
		return res, err
	}
	u, err := lookupPM2User(req.User)
	if err != nil {
		return res, err
	}
	if req.Home != "" && req.Home != u.home {
		return res, &namedError{fmt.Errorf("the home of %s on this host is %s, not %s (limen:apps.home, default /home/%s): pm2 keeps its logs there, and their rotation names them; set limen:apps.home to %s", u.name, u.home, req.Home, u.name, u.home)}
	}
	dirMode := uint32(0o755)
	if err := fsafe.RootDir(req.MarkerDir, &dirMode); err != nil {
		return res, err
	}
	// The drop-in before the unit and its daemon start. A daemon already running keeps the scheduling
	// it started with until its next start (a reboot): restarting it here would take the apps down.
	dropin := pm2UnitDropin(u.name)
	if err := fsafe.RootDir(filepath.Dir(dropin), &dirMode); err != nil {
		return res, err
	}
	if current, err := fsafe.Cat(dropin); err != nil || strings.TrimRight(string(current), "\n") != pm2DropinText {
		written, err := writeFile(c, dropin, "0644", "root:root", []byte(pm2DropinText+"\n"))
		if err != nil {
			return res, err
		}
		res.Dropin = &written
		if err := c.systemctl(limits.SystemctlSeconds, "daemon-reload"); err != nil {
			return res, err
		}
	}
	unit := "pm2-" + u.name + ".service"
	there, err := present(systemdUnitDir + "/" + unit)
	if err != nil {
		return res, err
	}
	if !there {
		// Writes pm2's own unit for the user and enables it.
		if err := c.pm2AsRoot(nil, "startup", "systemd", "-u", u.name, "--hp", u.home); err != nil {
			var exit *exec.ExitError
			var deadline *deadlineError
			if !errors.As(err, &exit) && !errors.As(err, &deadline) {
				return res, err
			}
			return res, &namedError{fmt.Errorf("`pm2 startup systemd -u %s` failed or did not finish within %d s", u.name, c.seconds("pm2-call"))}
		}
		res.Startup = true
		// What pm2-remove reads to undo it: pm2's unit is this tool's doing, not the operator's.
		startup := filepath.Join(req.MarkerDir, "startup-"+u.name)
		if there, err := present(startup); err != nil {
			return res, err
		} else if !there {
			if _, err := fsafe.Replace(startup, "0600", "root:root", nil); err != nil {
				return res, err
			}
		}
	}
	// Enabled as well as started: a unit disabled by hand would leave the apps down after a reboot.
	// Asked first: `systemctl enable` reloads systemd's unit files, a few tenths of a second.
	if err := c.enable(unit); err != nil {
		return res, err
	}
	// The daemon belongs under its unit, not under an SSH session: starting the unit (it resurrects the
	// saved list) makes the daemon outlive the session and come back after a reboot.
	if err := c.systemctl(limits.SystemctlStartSeconds, "start", unit); err != nil {
		return res, err
	}
	if req.LogRotationTimer != "" {
		if err := c.enableLogRotation(req.LogRotationTimer); err != nil {
			return res, err
		}
		res.LogRotationTimer = req.LogRotationTimer
	}
	return res, nil
}

// enable: `systemctl enable` only when the unit is not enabled yet.
func (c *call) enable(unit string) error {
	enabled, err := c.systemctlAsks("is-enabled", "--quiet", unit)
	if err != nil || enabled {
		return err
	}
	return c.systemctl(limits.SystemctlSeconds, "enable", "--quiet", unit)
}

// enableLogRotation: the timer (and the service it starts, both installed as files before this runs)
// loaded as installed, enabled and started; systemd's unit files are reloaded only when they changed.
func (c *call) enableLogRotation(timer string) error {
	// logrotate runs as the user, from the service: root only makes sure it is there.
	if _, found, _ := fsafe.Command("logrotate", os.Getenv("PATH")); !found {
		return &namedError{errors.New("logrotate is not installed on this host: install Debian's logrotate package (it rotates pm2's logs, limen:apps.logs)")}
	}
	for _, unit := range []string{timer, strings.TrimSuffix(timer, ".timer") + ".service"} {
		needsReload, err := c.systemctlShows("NeedDaemonReload", unit)
		if err != nil {
			return err
		}
		loadState, err := c.systemctlShows("LoadState", unit)
		if err != nil {
			return err
		}
		if needsReload == "yes" || loadState != "loaded" {
			if err := c.systemctl(limits.SystemctlSeconds, "daemon-reload"); err != nil {
				return err
			}
			break
		}
	}
	if err := c.enable(timer); err != nil {
		return err
	}
	active, err := c.systemctlAsks("is-active", "--quiet", timer)
	if err != nil || active {
		return err
	}
	return c.systemctl(limits.SystemctlStartSeconds, "start", timer)
}

// pm2-save: the saved list (~/.pm2/dump.pm2, what pm2's unit resurrects at boot) written again from
// the running apps, as the apps' user: `pm2 save --force`, which also replaces a list deleted by hand.
type pm2SaveRequest struct {
	common
	User string `json:"user" required:"true"`
}

func (r *pm2SaveRequest) validate() error { return checkUser(r.User) }

type pm2SaveResult struct {
	User string `json:"user"`
}

func (r pm2SaveResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "saved the pm2 process list of %s\n", r.User)
	return err
}

func runPM2Save(c *call, req *pm2SaveRequest) (pm2SaveResult, error) {
	if _, err := c.program("pm2", "pm2 is not installed on this host"); err != nil {
		return pm2SaveResult{}, err
	}
	u, err := lookupPM2User(req.User)
	if err != nil {
		return pm2SaveResult{}, err
	}
	err = c.pm2As(u, false, "save", "--force")
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return pm2SaveResult{}, &namedError{fmt.Errorf("pm2 save failed for %s", u.name)}
	}
	return pm2SaveResult{User: u.name}, err
}

// pm2-mark-loaded: records what the apps loaded (the files' sha256, as `sha256sum` prints them), so a
// later read can tell apps running stale files from a file merely rewritten with the same content.
type pm2MarkLoadedRequest struct {
	common
	User      string `json:"user" required:"true"`
	MarkerDir string `json:"markerDir" required:"true"`
	// Loaded: the files the apps load, in order.
	Loaded []string `json:"loaded" required:"true"`
}

func (r *pm2MarkLoadedRequest) validate() error {
	if err := checkUser(r.User); err != nil {
		return err
	}
	if err := checkAbsolute("markerDir", r.MarkerDir); err != nil {
		return err
	}
	return checkLoaded(r.Loaded)
}

func checkLoaded(loaded []string) error {
	if len(loaded) == 0 {
		return errors.New(`"loaded" must list at least one file`)
	}
	for _, path := range loaded {
		if err := checkAbsolute("loaded", path); err != nil {
			return err
		}
	}
	return nil
}

// loadedFile: one line of the record.
type loadedFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

type pm2MarkLoadedResult struct {
	User string `json:"user"`
	// Record: the file written (MARKER_DIR/loaded-USER.sha256).
	Record string `json:"record"`
	// Files: the files recorded; a path that is not a regular file is left out.
	Files []loadedFile `json:"files"`
}

func (r pm2MarkLoadedResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "recorded the files the pm2 apps of %s run with\n", r.User)
	return err
}

func runPM2MarkLoaded(_ *call, req *pm2MarkLoadedRequest) (pm2MarkLoadedResult, error) {
	return markLoaded(req.User, req.MarkerDir, req.Loaded)
}

// markLoaded writes MARKER_DIR/loaded-USER.sha256, `SHA256  PATH` per file as sha256sum prints it.
// The files are read as limen-file reads them: .env.production sits in the app user's directory, and
// a link or a FIFO there is left out of the record, neither followed nor waited on.
func markLoaded(user, markerDir string, loaded []string) (pm2MarkLoadedResult, error) {
	res := pm2MarkLoadedResult{User: user, Record: filepath.Join(markerDir, "loaded-"+user+".sha256"), Files: []loadedFile{}}
	dirMode := uint32(0o755)
	if err := fsafe.RootDir(markerDir, &dirMode); err != nil {
		return res, err
	}
	var record strings.Builder
	for _, path := range loaded {
		reading, err := fsafe.Read(path)
		if err != nil {
			return res, err
		}
		if reading.Kind != fsafe.KindFile {
			continue
		}
		sha := reading.SHA256
		if sha == "" {
			sha = "-"
		}
		fmt.Fprintf(&record, "%s  %s\n", sha, path)
		res.Files = append(res.Files, loadedFile{Path: path, SHA256: sha})
	}
	_, err := fsafe.Replace(res.Record, "0600", "root:root", []byte(record.String()))
	return res, err
}

// forgetEarlierCopies: what versions before the release kept its own files kept of the apps' files
// under the (root-only) marker directory: the set that last passed the gate and a change it sent
// back, .env.production's secrets among them. Removed by the first deploy, and by pm2-remove.
func forgetEarlierCopies(user, markerDir string) error {
	for _, name := range []string{"good-" + user, "good-" + user + ".new", "pending-" + user, "pending-" + user + ".new"} {
		if err := fsafe.RemoveTree(filepath.Join(markerDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// pm2-remove: the apps deleted from the user's pm2 (and their candidates), the list saved, pm2's unit
// removed when pm2-enable made it, the drop-in removed, and the record of what the apps loaded gone.
type pm2RemoveRequest struct {
	common
	User      string   `json:"user" required:"true"`
	Apps      []string `json:"apps" required:"true"`
	MarkerDir string   `json:"markerDir" required:"true"`
	// LogRotationTimer: the rotation's timer, stopped and disabled with the apps (its unit files go
	// with their own resources).
	LogRotationTimer string `json:"logRotationTimer,omitempty"`
}

func (r *pm2RemoveRequest) validate() error {
	if err := checkUser(r.User); err != nil {
		return err
	}
	if err := checkApps(r.Apps); err != nil {
		return err
	}
	if err := checkAbsolute("markerDir", r.MarkerDir); err != nil {
		return err
	}
	return checkTimer(r.LogRotationTimer)
}

type pm2RemoveResult struct {
	User string   `json:"user"`
	Apps []string `json:"apps"`
	// Unstartup: pm2's unit, which pm2-enable had made, was removed (`pm2 unstartup`).
	Unstartup bool `json:"unstartup"`
	// DropinRemoved: the cluster drop-in was there and is gone.
	DropinRemoved bool `json:"dropinRemoved"`
}

func (r pm2RemoveResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "pm2 apps removed: %s\n", strings.Join(r.Apps, ","))
	return err
}

func runPM2Remove(c *call, req *pm2RemoveRequest) (pm2RemoveResult, error) {
	res := pm2RemoveResult{User: req.User, Apps: req.Apps}
	if systemctl, ok := c.programs["systemctl"]; ok && req.LogRotationTimer != "" {
		// Whether it was there or not: only the tool's own stop ends the removal here.
		err := c.run(program{what: "systemctl disable --now " + req.LogRotationTimer, argv: []string{systemctl, "disable", "--now", "--quiet", req.LogRotationTimer}, seconds: limits.SystemctlSeconds, stderr: io.Discard})
		var stopped *stoppedError
		if errors.As(err, &stopped) {
			return res, err
		}
	}
	markers, err := present(req.MarkerDir)
	if err != nil {
		return res, err
	}
	if markers {
		if err := fsafe.RootDir(req.MarkerDir, nil); err != nil {
			return res, err
		}
	}
	u, userErr := lookupPM2User(req.User)
	if _, ok := c.programs["pm2"]; ok && userErr == nil {
		// With each app, its candidate, should a deploy stopped at its deadline have left one.
		for _, app := range req.Apps {
			for _, name := range []string{app, app + "-candidate"} {
				if err := c.pm2As(u, true, "delete", name); err != nil {
					var exit *exec.ExitError
					if !errors.As(err, &exit) {
						return res, err
					}
				}
			}
		}
		if err := c.pm2As(u, false, "save", "--force"); err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return res, fmt.Errorf("`pm2 save --force` failed for %s (%s)", u.name, err)
			}
			return res, err
		}
		startup := filepath.Join(req.MarkerDir, "startup-"+u.name)
		if reading, err := fsafe.Read(startup); err != nil {
			return res, err
		} else if reading.Kind == fsafe.KindFile {
			// pm2's failure or silence is no reason to keep the marker; an untrusted package, or the
			// tool's own stop, is.
			err := c.pm2AsRoot(io.Discard, "unstartup", "systemd", "-u", u.name)
			var exit *exec.ExitError
			var deadline *deadlineError
			if err != nil && !errors.As(err, &exit) && !errors.As(err, &deadline) {
				return res, err
			}
			if err := fsafe.Remove(startup); err != nil {
				return res, err
			}
			res.Unstartup = true
		}
		dropin := pm2UnitDropin(u.name)
		if there, err := present(dropin); err != nil {
			return res, err
		} else if there {
			if err := fsafe.Remove(dropin); err != nil {
				return res, err
			}
			if _, err := fsafe.RemoveEmptyDir(filepath.Dir(dropin)); err != nil {
				return res, err
			}
			if err := c.systemctl(limits.SystemctlSeconds, "daemon-reload"); err != nil {
				return res, err
			}
			res.DropinRemoved = true
		}
	}
	// The record of what the apps loaded goes with them, and any copies an earlier version kept.
	if markers {
		if err := forgetEarlierCopies(req.User, req.MarkerDir); err != nil {
			return res, err
		}
		if err := fsafe.Remove(filepath.Join(req.MarkerDir, "loaded-"+req.User+".sha256")); err != nil {
			return res, err
		}
	}
	return res, nil
}
