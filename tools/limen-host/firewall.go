package main

// The firewall: apply-firewall, confirm-firewall, revert-firewall, remove-firewall (files/limen-host.sh's
// subcommands of the same names). Changes follow iptables-apply / deploy-rs's "magic rollback":
// apply-firewall saves a self-contained copy of the live table, arms a systemd timer that restores it,
// and applies the new ruleset in one `nft -f` transaction (other tables are never flushed). Only
// confirm-firewall, run over a NEW SSH connection (the established one survives any ruleset through
// conntrack), disarms the timer and makes the new ruleset the one loaded at boot. No confirmation in
// time: the host restores the previous ruleset by itself (revert-firewall, run by the timer).

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

func init() {
	// The revert's timer: systemd-run, found and checked on PATH like the other programs root runs.
	hostCommands = append(hostCommands, "systemd-run")
	register("apply-firewall", handle(runApplyFirewall, true))
	register("confirm-firewall", handle(runConfirmFirewall, true))
	register("revert-firewall", handle(runRevertFirewall, true))
	register("remove-firewall", handle(runRemoveFirewall, true))
}

// firewallTable: the table the stack owns, as nft names it ("inet limen_firewall").
type firewallTable struct {
	// Family: inet, ip or ip6.
	Family string `json:"family"`
	Name   string `json:"name"`
}

func (t firewallTable) String() string { return t.Family + " " + t.Name }

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// unitName: a systemd unit's name as systemctl takes it in argv (never an option: no leading '-').
var unitName = regexp.MustCompile(`^[A-Za-z0-9_.:@\\][A-Za-z0-9_.:@\\-]*$`)

// firewallTarget: the fields every firewall request has (files/limen-host.sh's firewall_opts). The
// pending ruleset sits beside the boot ruleset as BOOT.pending.
type firewallTarget struct {
	Table firewallTable `json:"table" required:"true"`
	// BootRuleset: the confirmed ruleset, loaded at boot by Unit.
	BootRuleset string `json:"bootRuleset" required:"true"`
	// StateDir: the saved previous table (previous.nft) and the log of reverts (reverts.log).
	StateDir string `json:"stateDir" required:"true"`
	// Marker: the pending ruleset's sha256 while a revert is armed.
	Marker string `json:"marker" required:"true"`
	// Unit: the unit that loads BootRuleset at boot ("limen-firewall.service").
	Unit string `json:"unit" required:"true"`
	// RevertUnit: the transient timer and service that revert (RevertUnit.timer, RevertUnit.service).
	RevertUnit string `json:"revertUnit" required:"true"`
}

func (t *firewallTarget) pending() string { return t.BootRuleset + ".pending" }

func (t *firewallTarget) previous() string { return filepath.Join(t.StateDir, "previous.nft") }

// check: the shared fields' values. main's required tags are checked on a request's own fields, and
// these are embedded, so their presence is checked here too.
func (t *firewallTarget) check() error {
	v := reflect.ValueOf(t).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type.Kind() == reflect.String && v.Field(i).String() == "" {
			return fmt.Errorf("%q is required", name)
		}
	}
	switch t.Table.Family {
	case "inet", "ip", "ip6":
	default:
		return fmt.Errorf(`"table" must be {"family": inet, ip or ip6, "name": NAME}, got family %q`, t.Table.Family)
	}
	if !tableName.MatchString(t.Table.Name) {
		return fmt.Errorf(`"table"'s name must be [a-z_][a-z0-9_]*, got %q`, t.Table.Name)
	}
	for field, path := range map[string]string{"bootRuleset": t.BootRuleset, "stateDir": t.StateDir, "marker": t.Marker} {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("%q must be an absolute path, got %q", field, path)
		}
	}
	for field, unit := range map[string]string{"unit": t.Unit, "revertUnit": t.RevertUnit} {
		if !unitName.MatchString(unit) {
			return fmt.Errorf("%q must be a systemd unit name, got %q", field, unit)
		}
	}
	return nil
}

// firewall: one firewall step on the host, with the programs it runs.
type firewall struct {
	*firewallTarget
	c         *call
	nft       string
	systemctl string
}

// prepare: every file below is written and removed in the boot ruleset's, the state's and the
// marker's directories, so each that exists must be one nobody but root can change (apply-firewall
// creates the missing ones).
func (c *call) firewall(t *firewallTarget) (*firewall, error) {
	for _, dir := range []string{filepath.Dir(t.BootRuleset), t.StateDir, filepath.Dir(t.Marker)} {
		if err := rootDirIfThere(dir); err != nil {
			return nil, err
		}
	}
	nft, err := c.program("nft", "nft is missing: install Debian's nftables package")
	if err != nil {
		return nil, err
	}
	systemctl, err := c.program("systemctl", "systemctl is missing: the firewall's boot unit and its revert timer need systemd")
	if err != nil {
		return nil, err
	}
	return &firewall{firewallTarget: t, c: c, nft: nft, systemctl: systemctl}, nil
}

// rootDirIfThere is fsafe.RootDir for a directory that exists (as `[ -e DIR ] || [ -L DIR ]`).
func rootDirIfThere(dir string) error {
	d, err := fsafe.Enter(dir, nil)
	var refusal *fsafe.Refusal
	if errors.As(err, &refusal) && refusal.Missing {
		return nil
	}
	if err == nil {
		d.Close()
	}
	return fsafe.RootDir(dir, nil)
}

// systemctl runs `systemctl ARGS` under the firewall's deadline.
func (f *firewall) systemctlRun(quiet bool, args ...string) error {
	p := program{what: "systemctl " + args[0], argv: append([]string{f.systemctl}, args...), seconds: limits.FirewallProgramSeconds}
	if quiet {
		p.stdout, p.stderr = io.Discard, io.Discard
	}
	return f.c.run(p)
}

// disarm stops the revert (its timer and its service, should it be running) and forgets a failed one.
// Neither may exist: a failure is no error, a deadline is.
func (f *firewall) disarm() error {
	for _, verb := range []string{"stop", "reset-failed"} {
		if err := f.systemctlRun(true, verb, f.RevertUnit+".timer", f.RevertUnit+".service"); interrupted(err) {
			return err
		}
	}
	return nil
}

// nftFile runs `nft [-c] -f FILE` on content staged where only root can reach it.
func (f *firewall) nftFile(name string, content []byte, checkOnly bool) error {
	staged, err := stage(name, content)
	if err != nil {
		return err
	}
	argv := []string{f.nft, "-f", staged}
	what := "nft -f"
	if checkOnly {
		argv = []string{f.nft, "-c", "-f", staged}
		what = "nft -c -f"
	}
	return f.c.run(program{what: what, argv: argv, seconds: limits.FirewallProgramSeconds})
}

// liveTable: the table as nft lists it now; empty when there is none.
func (f *firewall) liveTable() ([]byte, error) {
	out, err := f.c.stdoutOf(program{what: "nft list table", argv: []string{f.nft, "list", "table", f.Table.Family, f.Table.Name}, seconds: limits.FirewallProgramSeconds, stderr: io.Discard})
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// No such table (nothing was applied before): the saved copy removes it.
		return nil, nil
	}
	return out, err
}

// apply-firewall: the new ruleset, applied with a revert armed.
type applyFirewallRequest struct {
	common
	firewallTarget
	// ConfirmWithinSeconds: the revert fires this long after the apply unless confirm-firewall stops it.
	ConfirmWithinSeconds int    `json:"confirmWithinSeconds" required:"true"`
	Content              []byte `json:"contentBase64" required:"true"`
}

func (r *applyFirewallRequest) validate() error {
	if err := r.check(); err != nil {
		return err
	}
	if r.ConfirmWithinSeconds < 1 {
		return fmt.Errorf(`"confirmWithinSeconds" must be a whole number of seconds above 0, got %d`, r.ConfirmWithinSeconds)
	}
	return r.pendingInstall().validate()
}

// pendingInstall: the new ruleset, installed beside the boot ruleset as install-file installs any
// ruleset (nft -c first).
func (r *applyFirewallRequest) pendingInstall() *installFileRequest {
	return &installFileRequest{Path: r.pending(), Mode: "0600", Owner: "root:root", Check: "nft", Content: r.Content}
}

type applyFirewallResult struct {
	// Pending: the new ruleset's install beside the boot ruleset (install-file's result).
	Pending fsafe.Written `json:"pending"`
	Table   firewallTable `json:"table"`
	SHA256  string        `json:"sha256"`
	// RevertAt: when the host restores the previous ruleset unless confirm-firewall comes first.
	RevertAt time.Time `json:"revertAt"`
}

func (r applyFirewallResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s\napplied table %s (%s); the host restores the previous ruleset at %s unless a new SSH connection confirms it\n", r.Pending.Line(), r.Table, r.SHA256, r.RevertAt.UTC().Format("15:04:05Z"))
	return err
}

func runApplyFirewall(c *call, req *applyFirewallRequest) (applyFirewallResult, error) {
	f, err := c.firewall(&req.firewallTarget)
	if err != nil {
		return applyFirewallResult{}, err
	}
	stateMode, markerDirMode := uint32(0o700), uint32(0o755)
	if err := fsafe.RootDir(req.StateDir, &stateMode); err != nil {
		return applyFirewallResult{}, err
	}
	if err := fsafe.RootDir(filepath.Dir(req.Marker), &markerDirMode); err != nil {
		return applyFirewallResult{}, err
	}
	installed, err := runInstallFile(c, req.pendingInstall())
	if err != nil {
		return applyFirewallResult{}, err
	}
	if err := f.disarm(); err != nil {
		return applyFirewallResult{}, err
	}
	// The previous table as a file that restores it whatever is loaded by then (or removes the table,
	// when there was none before).
	live, err := f.liveTable()
	if err != nil {
		return applyFirewallResult{}, fmt.Errorf("cannot save the live table for the revert (%s); nothing was changed", err)
	}
	previous := fmt.Appendf(nil, "table %s\ndelete table %s\n", req.Table, req.Table)
	previous = append(previous, live...)
	if len(previous) > limits.MaxFileBytes {
		return applyFirewallResult{}, fmt.Errorf("cannot save the live table for the revert (it is %s); nothing was changed", fsafe.TooLarge(int64(len(previous))))
	}
	if err := f.nftFile("previous.nft", previous, true); err != nil {
		return applyFirewallResult{}, errors.New("cannot save the live table for the revert; nothing was changed")
	}
	if _, err := fsafe.Replace(req.previous(), "0600", "root:root", previous); err != nil {
		return applyFirewallResult{}, err
	}
	sum := sha256.Sum256(req.Content)
	sha := hex.EncodeToString(sum[:])
	if _, err := fsafe.Replace(req.Marker, "0600", "root:root", []byte(sha+"\n")); err != nil {
		return applyFirewallResult{}, err
	}
	if err := f.armRevert(req.ConfirmWithinSeconds); err != nil {
		return applyFirewallResult{}, err
	}
	if err := f.nftFile(filepath.Base(req.pending()), req.Content, false); err != nil {
		if interrupted(err) {
			return applyFirewallResult{}, fmt.Errorf("%s: %s; the revert armed restores the previous ruleset", req.pending(), err)
		}
		return applyFirewallResult{}, fmt.Errorf("%s: nft could not apply the new ruleset; the revert armed restores the previous one", req.pending())
	}
	return applyFirewallResult{Pending: installed.Written, Table: req.Table, SHA256: sha, RevertAt: time.Now().Add(time.Duration(req.ConfirmWithinSeconds) * time.Second).UTC().Truncate(time.Second)}, nil
}

// armRevert: a transient timer that runs this tool with a revert-firewall request on its stdin
// (StandardInput=data, the request as StandardInputData, base64: systemd >= 236 takes both as
// transient properties, and the hosts run Debian bookworm's 252), never with the request in argv.
func (f *firewall) armRevert(within int) error {
	systemdRun, err := f.c.program("systemd-run", "systemd-run is missing: the firewall's revert timer needs systemd")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot arm the revert: the host tool's own path: %w", err)
	}
	revert, err := json.Marshal(revertFirewallRequest{common: common{Command: "revert-firewall", Output: "text"}, firewallTarget: *f.firewallTarget})
	if err != nil {
		return err
	}
	argv := []string{
		systemdRun, "--quiet", "--unit=" + f.RevertUnit, "--on-active=" + strconv.Itoa(within) + "s", "--timer-property=AccuracySec=1s",
		"-p", "StandardInput=data", "-p", "StandardInputData=" + base64.StdEncoding.EncodeToString(revert), self,
	}
	if err := f.c.run(program{what: "systemd-run", argv: argv, seconds: limits.FirewallProgramSeconds}); err != nil {
		return fmt.Errorf("cannot arm the revert with systemd-run (%s); the new ruleset is not applied", err)
	}
	return nil
}

// revert-firewall: the timer's request; the saved table comes back.
type revertFirewallRequest struct {
	common
	firewallTarget
}

func (r *revertFirewallRequest) validate() error { return r.check() }

type revertFirewallResult struct {
	Table   firewallTable `json:"table"`
	Outcome string        `json:"outcome"`
}

func (r revertFirewallResult) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, "limen-host: firewall change not confirmed in time; previous ruleset restored")
	return err
}

func runRevertFirewall(c *call, req *revertFirewallRequest) (revertFirewallResult, error) {
	f, err := c.firewall(&req.firewallTarget)
	if err != nil {
		return revertFirewallResult{}, err
	}
	previous, err := fsafe.Cat(req.previous())
	if err != nil {
		return revertFirewallResult{}, fmt.Errorf("cannot restore the previous ruleset: %w", err)
	}
	if err := f.nftFile("previous.nft", previous, false); err != nil {
		return revertFirewallResult{}, fmt.Errorf("%s: nft could not restore the previous ruleset (%s)", req.previous(), err)
	}
	for _, path := range []string{req.Marker, req.pending()} {
		if err := fsafe.Remove(path); err != nil {
			return revertFirewallResult{}, err
		}
	}
	line := time.Now().UTC().Format("2006-01-02T15:04:05Z") + " restored the previous ruleset: no new SSH connection confirmed the change\n"
	if err := appendLine(filepath.Join(req.StateDir, "reverts.log"), line); err != nil {
		return revertFirewallResult{}, err
	}
	return revertFirewallResult{Table: req.Table, Outcome: "restored"}, nil
}

// appendLine adds a line to a root-only log through fsafe (read within the limit, replaced whole). A
// log that reached the limit (thousands of reverts) starts again with the new line.
func appendLine(path, line string) error {
	reading, err := fsafe.Read(path)
	if err != nil {
		return err
	}
	var content []byte
	if reading.Kind == fsafe.KindFile {
		if content, err = fsafe.Cat(path); err != nil {
			return err
		}
	}
	if len(content)+len(line) > limits.MaxFileBytes {
		content = nil
	}
	_, err = fsafe.Replace(path, "0600", "root:root", append(content, line...))
	return err
}

// confirm-firewall: the pending ruleset becomes the boot ruleset, over a new SSH connection.
type confirmFirewallRequest struct {
	common
	firewallTarget
	// SHA256: the ruleset this deployment applied.
	SHA256 string `json:"sha256" required:"true"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (r *confirmFirewallRequest) validate() error {
	if err := r.check(); err != nil {
		return err
	}
	if !sha256Hex.MatchString(r.SHA256) {
		return fmt.Errorf(`"sha256" must be 64 lowercase hex digits, got %q`, r.SHA256)
	}
	return nil
}

type confirmFirewallResult struct {
	Table       firewallTable `json:"table"`
	SHA256      string        `json:"sha256"`
	BootRuleset string        `json:"bootRuleset"`
	// Outcome: confirmed (the pending ruleset is the boot ruleset now), or alreadyConfirmed.
	Outcome string `json:"outcome"`
	// BootUnit: what its unit needed: enabled, reloaded (systemd's copy was stale), or unchanged.
	BootUnit string `json:"bootUnit"`
}

func (r confirmFirewallResult) text(w io.Writer) error {
	var err error
	if r.Outcome == "alreadyConfirmed" {
		_, err = fmt.Fprintf(w, "already confirmed %s\n", r.SHA256)
	} else {
		_, err = fmt.Fprintf(w, "confirmed table %s (%s) over a new SSH connection; loaded at boot from %s\n", r.Table, r.SHA256, r.BootRuleset)
	}
	return err
}

func runConfirmFirewall(c *call, req *confirmFirewallRequest) (confirmFirewallResult, error) {
	f, err := c.firewall(&req.firewallTarget)
	if err != nil {
		return confirmFirewallResult{}, err
	}
	res := confirmFirewallResult{Table: req.Table, SHA256: req.SHA256, BootRuleset: req.BootRuleset}
	// The timer first: from here on the revert cannot fire halfway through the confirmation.
	if err := f.disarm(); err != nil {
		return res, err
	}
	marker, err := fsafe.Read(req.Marker)
	if err != nil {
		return res, err
	}
	if marker.Kind != fsafe.KindFile {
		boot, err := fsafe.Read(req.BootRuleset)
		if err != nil {
			return res, err
		}
		if boot.Kind == fsafe.KindFile && boot.SHA256 == req.SHA256 {
			res.Outcome = "alreadyConfirmed"
			res.BootUnit, err = f.enableBootUnit()
			return res, err
		}
		return res, fmt.Errorf("the host restored its previous firewall by itself: the new ruleset was not confirmed over a new SSH connection in time (it probably cut SSH from where pulumi runs; see %s/reverts.log)", req.StateDir)
	}
	armed, err := fsafe.Cat(req.Marker)
	if err != nil {
		return res, err
	}
	if applied := strings.TrimRight(string(armed), "\n"); applied != req.SHA256 {
		return res, fmt.Errorf("the pending ruleset (%s) is not the one this deployment applied (%s)", applied, req.SHA256)
	}
	pending, err := fsafe.Cat(req.pending())
	if err != nil {
		return res, err
	}
	// Through a new file beside the boot ruleset, synced and renamed: a reader sees the old file or the new one.
	if _, err := fsafe.Replace(req.BootRuleset, "0600", "root:root", pending); err != nil {
		return res, err
	}
	for _, path := range []string{req.Marker, req.pending()} {
		if err := fsafe.Remove(path); err != nil {
			return res, err
		}
	}
	res.Outcome = "confirmed"
	res.BootUnit, err = f.enableBootUnit()
	return res, err
}

// enableBootUnit: enabled, and systemd's copy of the unit current. Each reload of systemd's unit files
// costs PID 1 about 0.45 s of CPU on a small host, and `systemctl enable` does one by itself when it
// enables: so one reload when the unit was disabled, one when systemd's copy is missing, broken or
// older than the file, none when all is as it was. (Enabling without that reload was tried: after a
// destroy, systemd kept the removed unit as "error" and reported no reload needed.)
func (f *firewall) enableBootUnit() (string, error) {
	err := f.systemctlRun(false, "is-enabled", "--quiet", f.Unit)
	var exit *exec.ExitError
	switch {
	case err != nil && errors.As(err, &exit):
		if err := f.systemctlRun(false, "enable", "--quiet", f.Unit); err != nil {
			return "", fmt.Errorf("systemctl enable %s: %w", f.Unit, err)
		}
		return "enabled", nil
	case err != nil:
		return "", fmt.Errorf("systemctl is-enabled %s: %w", f.Unit, err)
	}
	show, err := f.c.stdoutOf(program{what: "systemctl show", argv: []string{f.systemctl, "show", "--property=LoadState", "--property=NeedDaemonReload", f.Unit}, seconds: limits.FirewallProgramSeconds})
	if err != nil {
		return "", fmt.Errorf("systemctl show %s: %w", f.Unit, err)
	}
	lines := strings.Split(string(show), "\n")
	if slices.Contains(lines, "LoadState=loaded") && slices.Contains(lines, "NeedDaemonReload=no") {
		return "unchanged", nil
	}
	if err := f.systemctlRun(false, "daemon-reload"); err != nil {
		return "", fmt.Errorf("systemctl daemon-reload: %w", err)
	}
	return "reloaded", nil
}

// remove-firewall: the table, its boot unit, its files and its state go.
type removeFirewallRequest struct {
	common
	firewallTarget
	// UnitPath: the boot unit's file.
	UnitPath string `json:"unitPath" required:"true"`
}

func (r *removeFirewallRequest) validate() error {
	if err := r.check(); err != nil {
		return err
	}
	if !strings.HasPrefix(r.UnitPath, "/") {
		return fmt.Errorf(`"unitPath" must be an absolute path, got %q`, r.UnitPath)
	}
	return nil
}

type removeFirewallResult struct {
	Table firewallTable `json:"table"`
	// TableDeleted: the table was loaded, and nft deleted it.
	TableDeleted bool `json:"tableDeleted"`
}

func (r removeFirewallResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "removed table %s\n", r.Table)
	return err
}

func runRemoveFirewall(c *call, req *removeFirewallRequest) (removeFirewallResult, error) {
	f, err := c.firewall(&req.firewallTarget)
	if err != nil {
		return removeFirewallResult{}, err
	}
	if err := fsafe.RootDir(filepath.Dir(req.UnitPath), nil); err != nil {
		return removeFirewallResult{}, err
	}
	if err := f.disarm(); err != nil {
		return removeFirewallResult{}, err
	}
	// One reload of systemd's unit files, after the files are gone (below), not one per step. A unit
	// systemd does not know is no error.
	if err := f.systemctlRun(true, "disable", "--quiet", "--no-reload", req.Unit); interrupted(err) {
		return removeFirewallResult{}, err
	}
	for _, path := range []string{req.UnitPath, req.BootRuleset, req.pending(), req.Marker} {
		if err := fsafe.Remove(path); err != nil {
			return removeFirewallResult{}, err
		}
	}
	if err := fsafe.RemoveTree(req.StateDir); err != nil {
		return removeFirewallResult{}, err
	}
	// As `rmdir -p`: the boot ruleset's directory and those above it, each while it is empty.
	for dir := filepath.Dir(req.BootRuleset); dir != "/"; dir = filepath.Dir(dir) {
		if removed, err := fsafe.RemoveEmptyDir(dir); err != nil || !removed {
			break
		}
	}
	if err := f.systemctlRun(false, "daemon-reload"); err != nil {
		return removeFirewallResult{}, fmt.Errorf("systemctl daemon-reload: %w", err)
	}
	res := removeFirewallResult{Table: req.Table}
	err = c.run(program{what: "nft list table", argv: []string{f.nft, "list", "table", req.Table.Family, req.Table.Name}, seconds: limits.FirewallProgramSeconds, stdout: io.Discard, stderr: io.Discard})
	if interrupted(err) {
		return res, err
	}
	if err == nil {
		if err := c.run(program{what: "nft delete table", argv: []string{f.nft, "delete", "table", req.Table.Family, req.Table.Name}, seconds: limits.FirewallProgramSeconds}); err != nil {
			return res, fmt.Errorf("nft delete table %s: %w", req.Table, err)
		}
		res.TableDeleted = true
	}
	return res, nil
}

// cappedBuffer keeps the first max bytes written to it and counts the rest, so that a program that
// prints without end is read within a limit (and its deadline) rather than held in memory.
// stdoutOf runs p and returns its stdout, at most limits.MaxProgramOutputBytes of it.
func (c *call) stdoutOf(p program) ([]byte, error) {
	out := &cappedBuffer{max: limits.MaxProgramOutputBytes}
	p.stdout = out
	err := c.run(p)
	if err == nil && out.over {
		return nil, fmt.Errorf("%s printed more than %d bytes, the limit of what root reads", p.what, limits.MaxProgramOutputBytes)
	}
	return out.Bytes(), err
}
