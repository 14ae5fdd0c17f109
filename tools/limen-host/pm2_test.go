package main

// The pm2 subcommands against stand-ins on PATH (pm2's CLI and API, systemctl), for what the black-box
// tests of the bash tool do not reach: pm2-enable and pm2-remove's calls, pm2-apply's second reload
// and its rollback, and the request limit of pm2-apply.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPM2ApplyHasItsOwnRequestLimit(t *testing.T) {
	padding := strings.Repeat("A", 3<<20)
	// 3 MiB: above every other command's limit, within pm2-apply's; the file in it is judged by name.
	request := `{"command":"pm2-apply","user":"limen","ecosystem":"/e.js","apps":["a"],"markerDir":"/m","loaded":["/e.js"],"files":[{"set":"new","path":"/e.js","mode":"0644","owner":"root:root","check":"none","contentBase64":"` + padding + `"}]}`
	status, _, stderr := serveText(t, request)
	if status != 1 || stderr != fmt.Sprintf("limen-host: pm2-apply: /e.js: not written: the new content is %d bytes, above the limit of 1048576 bytes for a file root reads\n", 3<<20/4*3) {
		t.Errorf("3 MiB: %d %q", status, stderr)
	}
	status, _, stderr = serveText(t, `{"command":"cat","path":"/x","pad":"`+padding+`"}`)
	if status != 1 || !strings.HasPrefix(stderr, "limen-host: the request is larger than 2097152 bytes, the limit of a cat request") {
		t.Errorf("a cat request of 3 MiB: %d %q", status, stderr)
	}
	status, _, stderr = serveText(t, `{"command":"pm2-apply","pad":"`+strings.Repeat("A", 9<<20)+`"}`)
	if status != 1 || !strings.HasPrefix(stderr, "limen-host: the request is larger than 8388608 bytes") {
		t.Errorf("9 MiB: %d %q", status, stderr)
	}
}

func TestPM2RequestsAreRefusedByName(t *testing.T) {
	for _, c := range []struct{ request, stderr string }{
		{`{"command":"pm2-mark-loaded","user":"../x","markerDir":"/m","loaded":["/e"]}`, `"user" must be a Unix user name`},
		{`{"command":"pm2-remove","user":"limen","apps":["-a"],"markerDir":"/m"}`, `"apps": "-a" is not a pm2 process name`},
		{`{"command":"pm2-apply","user":"limen","ecosystem":"/e.js","apps":["a"],"markerDir":"/m","loaded":["/e.js"],"gate":{"seconds":0,"sessionUrl":"http://127.0.0.1:1/","pageUrl":"http://127.0.0.1:1/"},"files":[]}`, `"seconds" must be a whole number of seconds above 0`},
		{`{"command":"pm2-apply","user":"limen","ecosystem":"/e.js","apps":["a"],"markerDir":"/m","loaded":["/e.js"],"files":[{"set":"new","path":"/e.js","mode":"644","owner":"root:root","check":"none","contentBase64":""}]}`, `mode '644' for /e.js is not an octal mode`},
		{`{"command":"pm2-apply","user":"limen","ecosystem":"/e.js","apps":["a"],"markerDir":"/m","loaded":["/e.js"],"files":[{"set":"old","path":"/e.js","mode":"0644","owner":"root:root","check":"none","contentBase64":""}]}`, `a file of set 'old', not new or previous`},
		{`{"command":"pm2-enable","user":"limen","markerDir":"/m","logRotationTimer":"x.service"}`, `"logRotationTimer" must be a systemd timer's unit name`},
	} {
		status, _, stderr := serveText(t, c.request)
		if status != 1 || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: %d %q, want %q", c.request, status, stderr, c.stderr)
		}
	}
}

// pm2Host: a PATH with stand-ins for pm2 (its CLI records its arguments; its API is api, written by
// the test) and systemctl (records; `is-enabled`, `is-active` say no, `show` says the unit is loaded
// and current), pm2's unit directory a scratch one, and a root-only marker directory.
type pm2Host struct {
	root, pkg, markers, calls string
}

func newPM2Host(t *testing.T, api string) *pm2Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs programs as root and as users: run `go test ./...` as root")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	root, _ := filepath.EvalSymlinks(t.TempDir())
	os.Chmod(root, 0o755)
	h := &pm2Host{root: root, pkg: filepath.Join(root, "lib", "node_modules", "pm2"), markers: filepath.Join(root, "markers"), calls: filepath.Join(root, "calls")}
	bin := filepath.Join(root, "bin")
	for _, dir := range []string{bin, filepath.Join(h.pkg, "bin"), filepath.Join(root, "units")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := func(path, text string) {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script(filepath.Join(h.pkg, "bin", "pm2"), fmt.Sprintf("echo \"pm2 $* (PM2_HOME=$PM2_HOME)\" >> %s\ncase $1 in delete) [ \"$2\" = a ] || exit 1 ;; startup) touch %s/units/pm2-$4.service ;; esac\n", h.calls, root))
	if err := os.Symlink(filepath.Join(h.pkg, "bin", "pm2"), filepath.Join(bin, "pm2")); err != nil {
		t.Fatal(err)
	}
	script(filepath.Join(bin, "systemctl"), fmt.Sprintf("echo \"systemctl $*\" >> %s\ncase $1 in is-enabled | is-active) exit 1 ;; show) case $2 in *LoadState) echo loaded ;; *) echo no ;; esac ;; esac\n", h.calls))
	script(filepath.Join(bin, "logrotate"), "exit 0\n")
	if err := os.WriteFile(filepath.Join(h.pkg, "index.js"), []byte(api), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+filepath.Dir(node)+":/usr/sbin:/usr/bin:/sbin:/bin")
	old := systemdUnitDir
	systemdUnitDir = filepath.Join(root, "units")
	t.Cleanup(func() { systemdUnitDir = old })
	return h
}

func (h *pm2Host) recorded(t *testing.T) []string {
	t.Helper()
	content, err := os.ReadFile(h.calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	os.Remove(h.calls)
	return strings.Split(strings.TrimSpace(string(content)), "\n")
}

func TestPM2EnableThenRemove(t *testing.T) {
	h := newPM2Host(t, "")
	home, _ := os.UserHomeDir()
	status, stdout, stderr := serveText(t, `{"command":"pm2-enable","output":"text","user":"root","markerDir":"`+h.markers+`","home":"/elsewhere"}`)
	if status != 1 || stderr != "limen-host: pm2-enable: the home of root on this host is "+home+", not /elsewhere (limen:apps.home, default /home/root): pm2 keeps its logs there, and their rotation names them; set limen:apps.home to "+home+"\n" {
		t.Errorf("another home: %d %q %q", status, stdout, stderr)
	}
	dropin := filepath.Join(systemdUnitDir, "pm2-root.service.d", "limen-cluster.conf")
	enable := `{"command":"pm2-enable","output":"text","user":"root","markerDir":"` + h.markers + `","logRotationTimer":"limen-pm2-logrotate.timer"}`
	status, stdout, stderr = serveText(t, enable)
	if status != 0 || stdout != "installed "+dropin+"\npm2 enabled for root\n" {
		t.Fatalf("pm2-enable: %d %q %q", status, stdout, stderr)
	}
	if content, _ := os.ReadFile(dropin); string(content) != "# Written by limen-host (pm2-enable): see cluster_sched_env there.\n[Service]\nEnvironment=NODE_CLUSTER_SCHED_POLICY=none\n" {
		t.Errorf("the drop-in: %q", content)
	}
	want := []string{
		"systemctl daemon-reload",
		"pm2 startup systemd -u root --hp " + home + " (PM2_HOME=)",
		"systemctl is-enabled --quiet pm2-root.service",
		"systemctl enable --quiet pm2-root.service",
		"systemctl start pm2-root.service",
		"systemctl show --property=NeedDaemonReload --value limen-pm2-logrotate.timer",
		"systemctl show --property=LoadState --value limen-pm2-logrotate.timer",
		"systemctl show --property=NeedDaemonReload --value limen-pm2-logrotate.service",
		"systemctl show --property=LoadState --value limen-pm2-logrotate.service",
		"systemctl is-enabled --quiet limen-pm2-logrotate.timer",
		"systemctl enable --quiet limen-pm2-logrotate.timer",
		"systemctl is-active --quiet limen-pm2-logrotate.timer",
		"systemctl start limen-pm2-logrotate.timer",
	}
	if got := h.recorded(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pm2-enable's calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Again: the drop-in and pm2's unit are there; no reload, no `pm2 startup`.
	if status, stdout, _ = serveText(t, enable); status != 0 || stdout != "pm2 enabled for root\n" {
		t.Errorf("pm2-enable again: %d %q", status, stdout)
	}
	if got := h.recorded(t); got[0] != "systemctl is-enabled --quiet pm2-root.service" {
		t.Errorf("pm2-enable again: %q", got)
	}

	// An earlier version's copies and the record go; pm2's unit goes because pm2-enable made it.
	os.MkdirAll(filepath.Join(h.markers, "good-root", "files"), 0o700)
	os.WriteFile(filepath.Join(h.markers, "good-root", "files", ".env.production"), []byte("SECRET=1\n"), 0o600)
	os.WriteFile(filepath.Join(h.markers, "loaded-root.sha256"), []byte("x  /e\n"), 0o600)
	status, stdout, stderr = serveText(t, `{"command":"pm2-remove","output":"text","user":"root","apps":["a","b"],"markerDir":"`+h.markers+`","logRotationTimer":"limen-pm2-logrotate.timer"}`)
	if status != 0 || stdout != "pm2 apps removed: a,b\n" {
		t.Fatalf("pm2-remove: %d %q %q", status, stdout, stderr)
	}
	pm2Home := "(PM2_HOME=" + home + "/.pm2)"
	want = []string{
		"systemctl disable --now --quiet limen-pm2-logrotate.timer",
		// pm2 refuses to delete what it does not have (b, the candidates): no matter.
		"pm2 delete a " + pm2Home, "pm2 delete a-candidate " + pm2Home, "pm2 delete b " + pm2Home, "pm2 delete b-candidate " + pm2Home,
		"pm2 save --force " + pm2Home,
		"pm2 unstartup systemd -u root (PM2_HOME=)",
		"systemctl daemon-reload",
	}
	if got := h.recorded(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pm2-remove's calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	entries, _ := os.ReadDir(h.markers)
	if len(entries) != 0 {
		t.Errorf("left in the marker directory: %v", entries)
	}
	if _, err := os.Stat(filepath.Dir(dropin)); !os.IsNotExist(err) {
		t.Errorf("the drop-in's directory: %v", err)
	}
}

// pm2's API for pm2-apply: every reload counted in a file; the apps are online from the second
// reload on. A candidate is a server in this process answering as the gate wants.
const reloadTwiceAPI = `const fs = require("fs");
const http = require("http");
const counter = __dirname + "/reloads";
const reloads = () => (fs.existsSync(counter) ? Number(fs.readFileSync(counter, "utf8")) : 0);
exports.connect = (cb) => cb(null);
exports.delete = (name, cb) => cb(null);
exports.start = (app, cb) => {
    const port = Number(app.args[app.args.indexOf("-p") + 1]);
    http.createServer((req, res) => {
        if (req.method === "POST") { res.writeHead(200, { "set-cookie": "s=1" }); return res.end("{}"); }
        res.writeHead(200);
        res.end(req.url === "/" ? "page" : JSON.stringify({ valid: req.headers.cookie === "s=1" }));
    }).listen(port, "127.0.0.1", () => cb(null));
};
exports.reload = (file, opts, cb) => { fs.writeFileSync(counter, String(reloads() + 1)); cb(null); };
exports.list = (cb) => cb(null, [{ name: "a", pm2_env: { status: reloads() >= 2 ? "online" : "errored" } }, { name: "a-candidate", pm2_env: { status: "online" } }]);
exports.dump = (force, cb) => cb(null);
`

// gateServer: the serving apps as the gate wants them.
func gateServer(t *testing.T) (string, string) {
	t.Helper()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.Header().Set("Set-Cookie", "s=1")
			w.Write([]byte("{}"))
		case r.URL.Path == "/":
			w.Write([]byte("page"))
		default:
			fmt.Fprintf(w, `{"valid":%t}`, r.Header.Get("Cookie") == "s=1")
		}
	}))
	t.Cleanup(server.Close)
	port := server.URL[strings.LastIndex(server.URL, ":")+1:]
	return port, server.URL
}

func applyRequest(h *pm2Host, ecosystem, port, url string, planned, previous string) string {
	file := func(set, content string) string {
		return fmt.Sprintf(`{"set":%q,"path":%q,"mode":"0644","owner":"root:root","check":"ecosystem","contentBase64":%q}`, set, ecosystem, base64.StdEncoding.EncodeToString([]byte(content)))
	}
	return fmt.Sprintf(`{"command":"pm2-apply","output":"text","deadlines":{"pm2-call":5,"gate-request":2},"user":"root","ecosystem":%q,"apps":["a"],"markerDir":%q,"loaded":[%q],"gate":{"seconds":2,"sessionUrl":"%s/api/auth/session","pageUrl":"%s/"},"files":[%s,%s]}`,
		ecosystem, h.markers, ecosystem, url, url, file("new", planned), file("previous", previous))
}

func ecosystemOf(port, mode string) string {
	return fmt.Sprintf(`module.exports = {"apps":[{"name":"a","script":"app.js","args":["-p","%s"],"env":{"MODE":%q}}]};`+"\n", port, mode)
}

func TestPM2ApplyReloadsTheSameFilesOnceMore(t *testing.T) {
	h := newPM2Host(t, reloadTwiceAPI)
	port, url := gateServer(t)
	ecosystem := filepath.Join(h.root, "ecosystem.config.js")
	same := ecosystemOf(port, "good")
	status, stdout, stderr := serveText(t, applyRequest(h, ecosystem, port, url, same, same))
	if status != 0 || stdout != "pm2 apps online: a (on a second reload with the same files; the first: waiting: pm2 app(s) a not online after 2 s; see: sudo -u root pm2 logs)\n" {
		t.Fatalf("%d %q %q", status, stdout, stderr)
	}
	if record, _ := os.ReadFile(filepath.Join(h.markers, "loaded-root.sha256")); !strings.HasSuffix(string(record), "  "+ecosystem+"\n") {
		t.Errorf("the record: %q", record)
	}
}

func TestPM2ApplyRollsBackToThePreviousFiles(t *testing.T) {
	h := newPM2Host(t, reloadTwiceAPI)
	port, url := gateServer(t)
	ecosystem := filepath.Join(h.root, "ecosystem.config.js")
	planned, previous := ecosystemOf(port, "new"), ecosystemOf(port, "old")
	status, stdout, stderr := serveText(t, applyRequest(h, ecosystem, port, url, planned, previous))
	// The candidate passed; the reloaded apps did not come online; the previous files came back, and the
	// apps passed with them.
	if status != 1 || stdout != "" || !strings.HasPrefix(stderr, "limen-host: pm2-apply: waiting: pm2 app(s) a not online after 2 s; see: sudo -u root pm2 logs. Rolled back: the previous ecosystem and .env.production are in place again and the apps passed the gate with them in ") {
		t.Fatalf("%d %q %q", status, stdout, stderr)
	}
	if content, _ := os.ReadFile(ecosystem); string(content) != previous {
		t.Errorf("the ecosystem: %q", content)
	}
	if record, _ := os.ReadFile(filepath.Join(h.markers, "loaded-root.sha256")); !strings.HasSuffix(string(record), "  "+ecosystem+"\n") {
		t.Errorf("the record of what the apps loaded after the rollback: %q", record)
	}
	// JSON: the same words after the command's name.
	os.Remove(filepath.Join(h.pkg, "reloads"))
	request := strings.Replace(applyRequest(h, ecosystem, port, url, planned, previous), `"output":"text",`, "", 1)
	if status, _, stderr = serveText(t, request); status != 1 || !strings.HasPrefix(stderr, "limen-host: pm2-apply: waiting: ") {
		t.Errorf("as JSON: %d %q", status, stderr)
	}
}
