package main

// The firewall's steps against stand-ins for nft, systemctl and systemd-run (fakes on PATH that record
// each call; nft's "live table" is the last file applied), on a real tree: what is written where, with
// which mode, in which order, and the revert request the timer hands back to the tool on stdin.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type fakeFirewallHost struct {
	dir, calls, live                           string
	ruleset, state, marker, unitPath, bootUnit string
}

func writeFakeProgram(t *testing.T, path, script string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func newFirewallHost(t *testing.T) *fakeFirewallHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("writes as root: run `go test ./...` as root")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	h := &fakeFirewallHost{
		dir:      dir,
		calls:    filepath.Join(dir, "calls"),
		live:     filepath.Join(dir, "live"),
		ruleset:  filepath.Join(dir, "etc", "limen", "limen.nft"),
		state:    filepath.Join(dir, "state"),
		marker:   filepath.Join(dir, "lib", "pending.sha256"),
		unitPath: filepath.Join(dir, "units", "limen-firewall.service"),
		bootUnit: "limen-firewall.service",
	}
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	writeFakeProgram(t, filepath.Join(bin, "nft"), fmt.Sprintf(`#!/bin/sh
echo "nft $*" >> %[1]s
case "$1" in
    -c) if grep -q BAD "$3"; then echo "Error: BAD" >&2; exit 1; fi; exit 0 ;;
    -f) if grep -q BAD "$2"; then echo "Error: BAD" >&2; exit 1; fi; cp "$2" %[2]s; exit 0 ;;
    list) if [ -f %[2]s ]; then cat %[2]s; exit 0; fi; echo "Error: No such file or directory" >&2; exit 1 ;;
    delete) rm -f %[2]s; exit 0 ;;
esac
exit 2
`, h.calls, h.live))
	writeFakeProgram(t, filepath.Join(bin, "systemctl"), fmt.Sprintf(`#!/bin/sh
echo "systemctl $*" >> %[1]s
case "$1" in
    stop) [ -f %[2]s/armed ] || { echo "Failed to stop $2: Unit $2 not loaded." >&2; exit 5; }; rm -f %[2]s/armed ;;
    reset-failed) echo "Failed to reset failed state of unit $2: Unit $2 not loaded." >&2; exit 1 ;;
    is-enabled) [ -f %[2]s/enabled ] ;;
    enable) touch %[2]s/enabled ;;
    disable) rm -f %[2]s/enabled ;;
    show) printf 'LoadState=loaded\nNeedDaemonReload=no\n' ;;
esac
`, h.calls, dir))
	writeFakeProgram(t, filepath.Join(bin, "systemd-run"), fmt.Sprintf(`#!/bin/sh
echo "systemd-run" >> %[1]s
for arg in "$@"; do echo "$arg"; done > %[2]s/systemd-run-argv
touch %[2]s/armed
`, h.calls, dir))
	t.Setenv("PATH", bin+":/usr/sbin:/usr/bin:/sbin:/bin")
	return h
}

// request: a firewall request as JSON, with the shared fields and extra ones.
func (h *fakeFirewallHost) request(command string, extra string) string {
	return fmt.Sprintf(`{"command":%q,"output":"text","table":{"family":"inet","name":"limen_test"},"bootRuleset":%q,"stateDir":%q,"marker":%q,"unit":%q,"revertUnit":"limen-firewall-revert"%s}`,
		command, h.ruleset, h.state, h.marker, h.bootUnit, extra)
}

func (h *fakeFirewallHost) apply(t *testing.T, ruleset string) (int, string, string) {
	t.Helper()
	return serveText(t, h.request("apply-firewall", `,"confirmWithinSeconds":30,"contentBase64":"`+base64.StdEncoding.EncodeToString([]byte(ruleset))+`"`))
}

var stagePath = regexp.MustCompile(`/run/limen-host\.\w+/`)

// takeCalls: the programs run since the last look, the stage's random name as STAGE/.
func (h *fakeFirewallHost) takeCalls(t *testing.T) []string {
	t.Helper()
	content, _ := os.ReadFile(h.calls)
	os.Remove(h.calls)
	return strings.Split(stagePath.ReplaceAllString(strings.TrimSpace(string(content)), "STAGE/"), "\n")
}

func contentOrError(path string) string {
	content, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(content)
}

func permOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

var disarmCalls = []string{"systemctl stop limen-firewall-revert.timer limen-firewall-revert.service", "systemctl reset-failed limen-firewall-revert.timer limen-firewall-revert.service"}

func TestFirewallApplyRevertConfirmRemove(t *testing.T) {
	h := newFirewallHost(t)
	os.WriteFile(h.live, []byte("table inet limen_test {\n\tchain old {\n\t}\n}\n"), 0o600)
	newRuleset := "table inet limen_test {\n\tchain new {\n\t}\n}\n"
	sha := sha256Text(newRuleset)

	// apply: the new ruleset pending beside the boot ruleset, the live table saved, the revert armed
	// with its request on stdin, then the new ruleset applied.
	status, stdout, stderr := h.apply(t, newRuleset)
	if status != 0 || !regexp.MustCompile(`^installed `+regexp.QuoteMeta(h.ruleset)+`\.pending\napplied table inet limen_test \(`+sha+`\); the host restores the previous ruleset at \d\d:\d\d:\d\dZ unless a new SSH connection confirms it\n$`).MatchString(stdout) {
		t.Fatalf("apply: %d %q %q", status, stdout, stderr)
	}
	want := []string{"nft -c -f STAGE/limen.nft.pending"}
	want = append(want, disarmCalls...)
	want = append(want, "nft list table inet limen_test", "nft -c -f STAGE/previous.nft", "systemd-run", "nft -f STAGE/limen.nft.pending")
	if calls := h.takeCalls(t); !slices.Equal(calls, want) {
		t.Errorf("apply ran:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if got := contentOrError(h.ruleset + ".pending"); got != newRuleset || permOf(t, h.ruleset+".pending") != 0o600 {
		t.Errorf("the pending ruleset: %q", got)
	}
	if got := contentOrError(filepath.Join(h.state, "previous.nft")); got != "table inet limen_test\ndelete table inet limen_test\ntable inet limen_test {\n\tchain old {\n\t}\n}\n" {
		t.Errorf("the saved table: %q", got)
	}
	if contentOrError(h.marker) != sha+"\n" || permOf(t, h.state) != 0o700 || permOf(t, filepath.Dir(h.marker)) != 0o755 {
		t.Errorf("the marker %q, the state's mode %v, the marker's directory's %v", contentOrError(h.marker), permOf(t, h.state), permOf(t, filepath.Dir(h.marker)))
	}
	if contentOrError(h.live) != newRuleset {
		t.Errorf("the live table after the apply: %q", contentOrError(h.live))
	}

	// The timer: the tool itself, its revert request on stdin (StandardInputData), nothing in argv.
	argv := strings.Split(strings.TrimSpace(contentOrError(filepath.Join(h.dir, "systemd-run-argv"))), "\n")
	self, _ := os.Executable()
	if len(argv) != 9 || !slices.Equal(argv[:7], []string{"--quiet", "--unit=limen-firewall-revert", "--on-active=30s", "--timer-property=AccuracySec=1s", "-p", "StandardInput=data", "-p"}) || argv[8] != self || !strings.HasPrefix(argv[7], "StandardInputData=") {
		t.Fatalf("systemd-run's arguments: %q", argv)
	}
	revert, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(argv[7], "StandardInputData="))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal(revert, &fields)
	if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, []string{"bootRuleset", "command", "marker", "output", "revertUnit", "stateDir", "table", "unit"}) || fields["command"] != "revert-firewall" {
		t.Errorf("the revert request: %s", revert)
	}

	// The timer fires: the request on the tool's stdin restores the saved table.
	status, stdout, stderr = serveText(t, string(revert))
	if status != 0 || stdout != "limen-host: firewall change not confirmed in time; previous ruleset restored\n" {
		t.Fatalf("revert: %d %q %q", status, stdout, stderr)
	}
	if calls := h.takeCalls(t); !slices.Equal(calls, []string{"nft -f STAGE/previous.nft"}) {
		t.Errorf("revert ran %q", calls)
	}
	if contentOrError(h.live) != contentOrError(filepath.Join(h.state, "previous.nft")) {
		t.Errorf("the revert applied %q", contentOrError(h.live))
	}
	for _, gone := range []string{h.marker, h.ruleset + ".pending"} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("%s is still there after the revert", gone)
		}
	}
	if log := contentOrError(filepath.Join(h.state, "reverts.log")); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ restored the previous ruleset: no new SSH connection confirmed the change\n$`).MatchString(log) {
		t.Errorf("reverts.log: %q", log)
	}

	// A confirmation that comes too late: refused, naming the log.
	confirm := h.request("confirm-firewall", `,"sha256":"`+sha+`"`)
	if status, _, stderr := serveText(t, confirm); status != 1 || stderr != "limen-host: the host restored its previous firewall by itself: the new ruleset was not confirmed over a new SSH connection in time (it probably cut SSH from where pulumi runs; see "+h.state+"/reverts.log)\n" {
		t.Errorf("a confirmation after the revert: %d %q", status, stderr)
	}
	h.takeCalls(t)

	// apply again, and confirm: the pending ruleset becomes the boot ruleset, and its unit is enabled.
	if status, _, stderr := h.apply(t, newRuleset); status != 0 {
		t.Fatalf("apply: %q", stderr)
	}
	h.takeCalls(t)
	other := strings.Repeat("0", 64)
	if status, _, stderr := serveText(t, h.request("confirm-firewall", `,"sha256":"`+other+`"`)); status != 1 || stderr != "limen-host: the pending ruleset ("+sha+") is not the one this deployment applied ("+other+")\n" {
		t.Errorf("another deployment's confirmation: %d %q", status, stderr)
	}
	h.takeCalls(t)
	status, stdout, stderr = serveText(t, confirm)
	if status != 0 || stdout != "confirmed table inet limen_test ("+sha+") over a new SSH connection; loaded at boot from "+h.ruleset+"\n" {
		t.Fatalf("confirm: %d %q %q", status, stdout, stderr)
	}
	want = append(slices.Clone(disarmCalls), "systemctl is-enabled --quiet limen-firewall.service", "systemctl enable --quiet limen-firewall.service")
	if calls := h.takeCalls(t); !slices.Equal(calls, want) {
		t.Errorf("confirm ran %q", calls)
	}
	if contentOrError(h.ruleset) != newRuleset || permOf(t, h.ruleset) != 0o600 {
		t.Errorf("the boot ruleset: %q", contentOrError(h.ruleset))
	}
	for _, gone := range []string{h.marker, h.ruleset + ".pending"} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("%s is still there after the confirmation", gone)
		}
	}
	if status, stdout, _ := serveText(t, confirm); status != 0 || stdout != "already confirmed "+sha+"\n" {
		t.Errorf("the same confirmation again: %d %q", status, stdout)
	}
	h.takeCalls(t)

	// remove: the unit, the rulesets, the state (a link inside is removed, never followed), the
	// ruleset's directories while empty, and the table.
	os.MkdirAll(filepath.Dir(h.unitPath), 0o755)
	os.WriteFile(h.unitPath, []byte("[Unit]\n"), 0o644)
	canary := filepath.Join(h.dir, "canary")
	os.WriteFile(canary, []byte("root's own\n"), 0o600)
	os.Symlink(canary, filepath.Join(h.state, "link"))
	status, stdout, stderr = serveText(t, h.request("remove-firewall", `,"unitPath":"`+h.unitPath+`"`))
	if status != 0 || stdout != "removed table inet limen_test\n" {
		t.Fatalf("remove: %d %q %q", status, stdout, stderr)
	}
	want = append(slices.Clone(disarmCalls), "systemctl disable --quiet --no-reload limen-firewall.service", "systemctl daemon-reload", "nft list table inet limen_test", "nft delete table inet limen_test")
	if calls := h.takeCalls(t); !slices.Equal(calls, want) {
		t.Errorf("remove ran %q", calls)
	}
	for _, gone := range []string{h.unitPath, h.ruleset, h.state, filepath.Join(h.dir, "etc"), h.live} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("%s is still there after the removal", gone)
		}
	}
	if contentOrError(canary) != "root's own\n" {
		t.Error("the file a link in the state pointed to was touched")
	}
}

// The saved table must restore: a live table nft would not take back, or one above the limit of a file
// root reads, stops the apply before the revert is armed or anything is applied.
func TestApplyFirewallStopsWhenTheLiveTableCannotBeSaved(t *testing.T) {
	for name, live := range map[string]string{
		"a table nft rejects": "table inet limen_test { BAD }\n",
		"a table above 1 MiB": "table inet limen_test {\n" + strings.Repeat("\t# padding\n", 110_000) + "}\n",
	} {
		t.Run(name, func(t *testing.T) {
			h := newFirewallHost(t)
			os.WriteFile(h.live, []byte(live), 0o600)
			status, _, stderr := h.apply(t, "table inet limen_test {}\n")
			if status != 1 || !strings.HasPrefix(stderr, "limen-host: cannot save the live table for the revert") || !strings.HasSuffix(stderr, "nothing was changed\n") {
				t.Errorf("%d %q", status, stderr)
			}
			if calls := h.takeCalls(t); slices.Contains(calls, "systemd-run") || slices.Contains(calls, "nft -f STAGE/limen.nft.pending") {
				t.Errorf("ran %q", calls)
			}
			if contentOrError(h.live) != live {
				t.Error("the live table changed")
			}
			if _, err := os.Lstat(h.marker); err == nil {
				t.Error("a marker was written")
			}
		})
	}
}

// A state directory of the app user's stops every firewall step before anything runs or is written.
func TestFirewallRefusesADirectoryAnotherUserCanChange(t *testing.T) {
	h := newFirewallHost(t)
	os.MkdirAll(h.state, 0o755)
	os.Chown(h.state, 65534, 65534)
	status, _, stderr := h.apply(t, "table inet limen_test {}\n")
	if status != 1 || !strings.Contains(stderr, h.state+": "+h.state+" can be changed by user") {
		t.Errorf("%d %q", status, stderr)
	}
	if content, _ := os.ReadFile(h.calls); len(content) != 0 {
		t.Errorf("ran %q", content)
	}
}

func TestFirewallRequestsAreJudgedByField(t *testing.T) {
	h := &fakeFirewallHost{ruleset: "/etc/limen/limen.nft", state: "/var/lib/limen/firewall", marker: "/var/lib/limen/pending.sha256", bootUnit: "limen-firewall.service"}
	for _, c := range []struct{ request, stderr string }{
		{strings.Replace(h.request("revert-firewall", ""), `"inet"`, `"arp"`, 1), `"table" must be {"family": inet, ip or ip6, "name": NAME}, got family "arp"`},
		{strings.Replace(h.request("revert-firewall", ""), `"limen_test"`, `"limen test"`, 1), `"table"'s name must be [a-z_][a-z0-9_]*, got "limen test"`},
		{strings.Replace(h.request("revert-firewall", ""), `"limen_test"`, `""`, 1), `"table"'s name must be [a-z_][a-z0-9_]*, got ""`},
		{strings.Replace(h.request("revert-firewall", ""), `"limen-firewall.service"`, `"--root=/tmp"`, 1), `"unit" must be a systemd unit name, got "--root=/tmp"`},
		{strings.Replace(h.request("revert-firewall", ""), `"/var/lib/limen/firewall"`, `""`, 1), `"stateDir" is required`},
		{strings.Replace(h.request("revert-firewall", ""), `"/var/lib/limen/firewall"`, `"state"`, 1), `"stateDir" must be an absolute path, got "state"`},
		{h.request("confirm-firewall", `,"sha256":"abc"`), `"sha256" must be 64 lowercase hex digits, got "abc"`},
		{h.request("apply-firewall", `,"confirmWithinSeconds":0,"contentBase64":""`), `"confirmWithinSeconds" must be a whole number of seconds above 0, got 0`},
		{h.request("apply-firewall", `,"confirmWithinSeconds":30,"contentBase64":"`+base64.StdEncoding.EncodeToString(make([]byte, 1<<20+1))+`"`), `/etc/limen/limen.nft.pending: not written: the new content is 1048577 bytes, above the limit of 1048576 bytes for a file root reads`},
		{h.request("apply-firewall", `,"confirmWithinSeconds":30,"contentBase64":"","unitPath":"/u"`), `unknown field "unitPath" in a apply-firewall request`},
	} {
		status, _, stderr := serveText(t, c.request)
		if status != 1 || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s:\n got %d %q\nwant %q", c.request, status, stderr, c.stderr)
		}
	}
}

func sha256Text(text string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(text)))
}
