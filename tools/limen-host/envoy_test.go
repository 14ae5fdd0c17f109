package main

// The front door's release against fakes: `docker` on PATH (a root-owned script that records its argv
// and answers run, inspect, ps, logs, stop and rm as the daemon would), Envoy's admin served on the
// containers' unix sockets, and the door itself a TLS server on 127.0.0.1. No black-box test covers
// these subcommands (the lab's end-to-end tests do), so these are their acceptance.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEnvoyGateChild is this test binary started again as nobody by the gate (selfArgv): it serves the
// request on stdin as the tool's main does. Skipped in a normal run.
func TestEnvoyGateChild(t *testing.T) {
	if flag.Arg(0) != "envoy-gate-child" {
		t.Skip("only as the gate's child")
	}
	os.Exit(serve(context.Background(), os.Stdin, os.Stdout, os.Stderr))
}

const fakeEnvoyDocker = `#!/bin/bash
d=FAKE
printf '%s\n' "$*" >>"$d/calls"
name=${!#}
case "$1" in
    run)
        if [ "$2" = --rm ]; then
            if [ -e "$d/validate-fails" ]; then echo "bad listener" >&2; exit 1; fi
            echo "configuration '/etc/envoy/envoy.yaml' OK"
            exit 0
        fi
        name=$4
        stat -c '%a %U' "$d/../state/$name.yaml" >"$d/copy-mode-$name" 2>/dev/null
        touch "$d/containers/$name"
        echo "0123456789ab-$name"
        ;;
    inspect) if [ -e "$d/containers/$name" ]; then echo true; else echo "Error: No such object: $name" >&2; exit 1; fi ;;
    ps) name=${4#name=^}; name=${name%$}; if [ -e "$d/containers/$name" ]; then echo "0123456789ab"; fi ;;
    logs) cat "$d/logs-$name" 2>/dev/null; echo "a line on stderr" >&2 ;;
    rm | stop) rm -f "$d/containers/$name" ;;
    *) echo "fake docker: $1 is not faked" >&2; exit 2 ;;
esac
`

// fakeEnvoy: one container's admin, as Envoy answers the requests the release makes.
type fakeEnvoy struct {
	mu        sync.Mutex
	httpsPort int
	// dynamicDir: the directory it watches (the serving container's), read on every /stats.
	dynamicDir string
	seen       map[string]string
	versions   map[string]string
	rejected   map[string]int
	state      string
	drained    bool
	statsExtra int // bytes of padding in each /stats answer
	requests   []string
}

func (e *fakeEnvoy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, r.Method+" "+r.URL.RequestURI())
	switch {
	case r.URL.Path == "/drain_listeners" && r.Method == http.MethodPost && r.URL.Query().Has("graceful") && r.URL.Query().Has("inboundonly"):
		e.drained, e.state = true, "DRAINING"
		io.WriteString(w, "OK\n")
	case r.URL.Path == "/ready":
		io.WriteString(w, "LIVE\n")
	case r.URL.Path == "/server_info":
		json.NewEncoder(w).Encode(map[string]any{"state": e.state, "version": "fake"})
	case r.URL.RequestURI() == "/listeners?format=json":
		json.NewEncoder(w).Encode(map[string]any{"listener_statuses": []any{
			map[string]any{"name": "http_8080", "local_address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 41000}}},
			map[string]any{"name": "https_8443", "local_address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": e.httpsPort}}},
		}})
	case r.URL.Path == "/stats":
		e.watch()
		filter, err := regexp.Compile(r.URL.Query().Get("filter"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		lines := map[string]string{}
		for kind, prefix := range map[string]string{"lds": "listener_manager.lds", "cds": "cluster_manager.cds"} {
			lines[prefix+".update_rejected"] = strconv.Itoa(e.rejected[kind])
			lines[prefix+".update_success"] = "1"
			lines[prefix+".version_text"] = strconv.Quote(e.versions[kind])
		}
		var names []string
		for name := range lines {
			if filter.MatchString(name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			fmt.Fprintf(w, "%s: %s\n", name, lines[name])
		}
		w.Write(bytes.Repeat([]byte("#"), e.statsExtra))
	default:
		http.NotFound(w, r)
	}
}

// watch: a moved-in file is applied (its content is its version) or rejected (content "bad…").
func (e *fakeEnvoy) watch() {
	if e.dynamicDir == "" {
		return
	}
	for _, kind := range []string{"lds", "cds"} {
		content, err := os.ReadFile(filepath.Join(e.dynamicDir, kind+".yaml"))
		if err != nil || e.seen[kind] == string(content) {
			continue
		}
		e.seen[kind] = string(content)
		if strings.HasPrefix(string(content), "bad") {
			e.rejected[kind]++
		} else {
			e.versions[kind] = string(content)
		}
	}
}

func (e *fakeEnvoy) asked() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.requests)
}

func newFakeEnvoy(httpsPort int) *fakeEnvoy {
	return &fakeEnvoy{httpsPort: httpsPort, state: "LIVE", seen: map[string]string{}, versions: map[string]string{}, rejected: map[string]int{}}
}

// serveAdmin serves e on the socket path until the test ends or stop is called.
func serveAdmin(t *testing.T, socket string, e http.Handler) (stop func()) {
	t.Helper()
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: e}
	go server.Serve(ln)
	var once sync.Once
	stop = func() { once.Do(func() { server.Close() }) }
	t.Cleanup(stop)
	return stop
}

// door: the TLS server standing for the door (a candidate's, or the public port), answering status,
// or trickling its answer a byte at a time for trickle; it records each request's SNI, Host and the
// uid of the process that connected.
type testDoor struct {
	server  *httptest.Server
	mu      sync.Mutex
	status  int
	trickle time.Duration
	seen    []string
}

func newTestDoor(t *testing.T, status int) *testDoor {
	d := &testDoor{status: status}
	d.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.seen = append(d.seen, fmt.Sprintf("%s %s uid %s", r.TLS.ServerName, r.Host, clientUID(r.RemoteAddr)))
		status, trickle := d.status, d.trickle
		d.mu.Unlock()
		w.WriteHeader(status)
		for end := time.Now().Add(trickle); time.Now().Before(end); {
			w.Write([]byte("."))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	d.server.StartTLS()
	t.Cleanup(d.server.Close)
	return d
}

func (d *testDoor) port() int { return d.server.Listener.Addr().(*net.TCPAddr).Port }

func (d *testDoor) requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// clientUID: the uid that owns the client's socket (127.0.0.1:PORT), from /proc/net/tcp.
func clientUID(remote string) string {
	_, port, _ := net.SplitHostPort(remote)
	n, _ := strconv.Atoi(port)
	want := fmt.Sprintf("0100007F:%04X", n)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "?"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 7 && fields[1] == want {
			return fields[7]
		}
	}
	return "?"
}

// envoyHost: a host for one test: the fake docker first on PATH, the state directory, the dynamic
// directory and the config, all in a root-only temp dir; the candidate's and standby's admins served
// as the fake docker starts them.
type envoyHost struct {
	t                    *testing.T
	root, fake, state    string
	dynamic, config      string
	candidate, standby   *fakeEnvoy
	serving              *fakeEnvoy
	stdout, stderr       *bytes.Buffer
	stopServing          func()
	candidatePort, https int
}

func newEnvoyHost(t *testing.T, candidatePort, httpsPort int) *envoyHost {
	if os.Geteuid() != 0 {
		t.Skip("runs containers' fakes as root: run `go test ./...` as root")
	}
	// Short: a unix socket's path is at most 107 bytes, and t.TempDir's holds the test's name.
	root, err := os.MkdirTemp("", "envoy")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	h := &envoyHost{t: t, root: root, fake: filepath.Join(root, "docker"), state: filepath.Join(root, "state"),
		dynamic: filepath.Join(root, "etc", "dynamic"), config: filepath.Join(root, "etc", "envoy.yaml"),
		candidatePort: candidatePort, https: httpsPort, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, dir := range []string{filepath.Join(h.fake, "bin"), filepath.Join(h.fake, "containers"), h.dynamic} {
		must(t, os.MkdirAll(dir, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(h.fake, "bin", "docker"), []byte(strings.ReplaceAll(fakeEnvoyDocker, "FAKE", h.fake)), 0o755))
	t.Setenv("PATH", filepath.Join(h.fake, "bin")+":/usr/bin:/bin")
	savedArgv, savedOut, savedErr := selfArgv, envoyStdout, envoyStderr
	selfArgv = []string{"/proc/self/exe", "-test.run=^TestEnvoyGateChild$", "envoy-gate-child"}
	envoyStdout, envoyStderr = h.stdout, h.stderr
	t.Cleanup(func() { selfArgv, envoyStdout, envoyStderr = savedArgv, savedOut, savedErr })
	h.candidate, h.standby = newFakeEnvoy(candidatePort), newFakeEnvoy(httpsPort)
	// The daemon: a container the fake docker started gets its admin on its socket, and loses it when removed.
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		stops := map[string]func(){}
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for name, e := range map[string]*fakeEnvoy{envoyCandidate: h.candidate, envoyStandby: h.standby} {
				_, err := os.Stat(filepath.Join(h.fake, "containers", name))
				switch {
				case err == nil && stops[name] == nil:
					socket := filepath.Join(h.state, "admin", name, "admin.sock")
					if ln, err := net.Listen("unix", socket); err == nil {
						server := &http.Server{Handler: e}
						go server.Serve(ln)
						stops[name] = func() { server.Close() }
					}
				case err != nil && stops[name] != nil:
					stops[name]()
					delete(stops, name)
				}
			}
		}
	}()
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serve: the serving container, running, with its admin on its socket.
func (h *envoyHost) serve() *fakeEnvoy {
	h.serving = newFakeEnvoy(h.https)
	h.serving.dynamicDir = h.dynamic
	must(h.t, os.MkdirAll(filepath.Join(h.state, "admin", "limen-envoy"), 0o700))
	must(h.t, os.WriteFile(filepath.Join(h.fake, "containers", "limen-envoy"), nil, 0o644))
	h.stopServing = serveAdmin(h.t, filepath.Join(h.state, "admin", "limen-envoy", "admin.sock"), h.serving)
	return h.serving
}

func (h *envoyHost) calls() []string {
	text, _ := os.ReadFile(filepath.Join(h.fake, "calls"))
	var calls []string
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		if line != "" {
			// The docker subcommand and the container it names, enough to see the order of the steps;
			// the looks at a candidate or standby while it starts are left out (their number is the timing's).
			words := strings.Fields(line)
			call := words[0] + " " + words[len(words)-1]
			switch {
			case words[0] == "run" && words[1] == "--rm":
				call = "run validate"
			case words[0] == "run":
				call = "run " + words[3]
			case (words[0] == "inspect" || words[0] == "logs") && words[len(words)-1] != "limen-envoy":
				continue
			}
			calls = append(calls, call)
		}
	}
	return calls
}

func (h *envoyHost) request(command string, fields map[string]any) (int, string) {
	h.t.Helper()
	req := map[string]any{"command": command, "output": "text", "deadlines": map[string]int{"gate-request": 1}}
	for k, v := range fields {
		req[k] = v
	}
	body, _ := json.Marshal(req)
	var stdout, stderr bytes.Buffer
	status := serve(context.Background(), bytes.NewReader(body), &stdout, &stderr)
	h.stdout.WriteString(stdout.String())
	h.stderr.WriteString(stderr.String())
	return status, stderr.String()
}

func (h *envoyHost) doorFields(seconds int) map[string]any {
	return map[string]any{"container": "limen-envoy", "stateDir": h.state, "httpsPort": h.https, "names": []string{"a.test", "b.test"}, "seconds": seconds, "drainSeconds": 1}
}

func b64(text string) string { return base64.StdEncoding.EncodeToString([]byte(text)) }

func (h *envoyHost) release(mode string, previous bool, lds, cds string, extra map[string]any) (int, string) {
	files := map[string]string{"validate": b64("validate"), "candidate": b64("candidate"), "bootstrap": b64("bootstrap: new\n"), "lds": b64(lds), "cds": b64(cds)}
	fields := h.doorFields(2)
	fields["mode"], fields["config"], fields["dynamicDir"] = mode, h.config, h.dynamic
	fields["ldsVersion"], fields["cdsVersion"], fields["order"], fields["envoyImage"] = lds, cds, "cds-first", "envoyproxy/envoy:v1.36"
	if previous {
		files["previousLds"], files["previousCds"] = b64("l1"), b64("c1")
		fields["previousLdsVersion"], fields["previousCdsVersion"], fields["rollbackOrder"] = "l1", "c1", "lds-first"
	}
	fields["files"] = files
	for k, v := range extra {
		fields[k] = v
	}
	return h.request("envoy-release", fields)
}

func (h *envoyHost) file(path string) string {
	content, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(content)
}

func (h *envoyHost) gone(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(h.state, name)); !os.IsNotExist(err) {
			t.Errorf("%s is still in the state directory (%v)", name, err)
		}
	}
}

func nobodyUID(t *testing.T) string {
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	return u.Uid
}

func TestEnvoyReleaseInPlaceApplied(t *testing.T) {
	candidateDoor := newTestDoor(t, 404)
	publicDoor := newTestDoor(t, 200)
	h := newEnvoyHost(t, candidateDoor.port(), publicDoor.port())
	must(t, os.WriteFile(filepath.Join(h.dynamic, "lds.yaml"), []byte("l1"), 0o644))
	must(t, os.WriteFile(filepath.Join(h.dynamic, "cds.yaml"), []byte("c1"), 0o644))
	serving := h.serve()

	status, stderr := h.release("in-place", true, "l2", "c2", nil)
	if status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	want := "the new config's candidate passed the gate for a.test,b.test\n" +
		"installed " + h.dynamic + "/cds.yaml\ninstalled " + h.dynamic + "/lds.yaml\n" +
		"Envoy serves listeners l2 and clusters c2 in place, and the front door answers for a.test,b.test\n"
	if h.stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", h.stdout, want)
	}
	if h.file(filepath.Join(h.dynamic, "lds.yaml")) != "l2" || h.file(filepath.Join(h.dynamic, "cds.yaml")) != "c2" {
		t.Errorf("the dynamic files are not the new ones")
	}
	// Validation, the candidate (removed before it is started, and after the gate), then the serving container.
	wantCalls := []string{"run validate", "rm " + envoyCandidate, "run " + envoyCandidate, "rm " + envoyCandidate, "inspect limen-envoy"}
	if calls := h.calls(); !slices.Equal(calls, wantCalls) {
		t.Errorf("docker calls:\n%q\nwant:\n%q", calls, wantCalls)
	}
	if mode := h.file(filepath.Join(h.fake, "copy-mode-"+envoyCandidate)); mode != "600 root\n" {
		t.Errorf("the candidate's copy of its config: %q, want 600 root", mode)
	}
	h.gone(t, envoyCandidate+".yaml", "admin/"+envoyCandidate)
	// The gate asked each site by name through the candidate, then through the door, as nobody.
	nobody := nobodyUID(t)
	for _, door := range []*testDoor{candidateDoor, publicDoor} {
		seen := door.requests()
		slices.Sort(seen)
		if want := []string{"a.test a.test uid " + nobody, "b.test b.test uid " + nobody}; !slices.Equal(seen, want) {
			t.Errorf("the gate's requests: %q, want %q", seen, want)
		}
	}
	asked := serving.asked()
	if asked[0] != "GET /stats?filter=update_rejected$" || !slices.Contains(asked, "GET "+adminApplied) {
		t.Errorf("the serving Envoy was asked %q", asked)
	}
}

func TestEnvoyReleaseInPlaceRejectedIsRolledBack(t *testing.T) {
	candidateDoor := newTestDoor(t, 200)
	h := newEnvoyHost(t, candidateDoor.port(), newTestDoor(t, 200).port())
	must(t, os.WriteFile(filepath.Join(h.dynamic, "lds.yaml"), []byte("l1"), 0o644))
	must(t, os.WriteFile(filepath.Join(h.dynamic, "cds.yaml"), []byte("c1"), 0o644))
	h.serve()
	must(t, os.WriteFile(filepath.Join(h.fake, "logs-limen-envoy"), []byte("info: listener moved\nerror: cannot bind 0.0.0.0:8080: Address already in use\nwarning: lds: REJECTED the update\n"), 0o644))

	status, stderr := h.release("in-place", true, "bad-l2", "c2", nil)
	want := "limen-host: envoy-release: Envoy rejected the new listeners or clusters; it logged: error: cannot bind 0.0.0.0:8080: Address already in use warning: lds: REJECTED the update . " +
		"Rolled back: Envoy serves the previous listeners and clusters again (l1, c1); the change is not applied\n"
	if status != 1 || stderr != want {
		t.Errorf("exit %d, stderr:\n%q\nwant:\n%q", status, stderr, want)
	}
	// The new files in the release's order (cds first), then the previous ones in the rollback's (lds first).
	wantOut := "the new config's candidate passed the gate for a.test,b.test\n" +
		"installed " + h.dynamic + "/cds.yaml\ninstalled " + h.dynamic + "/lds.yaml\n" +
		"installed " + h.dynamic + "/lds.yaml\ninstalled " + h.dynamic + "/cds.yaml\n"
	if h.stdout.String() != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", h.stdout, wantOut)
	}
	if h.file(filepath.Join(h.dynamic, "lds.yaml")) != "l1" || h.file(filepath.Join(h.dynamic, "cds.yaml")) != "c1" {
		t.Errorf("the previous files are not back")
	}

	// Without previous files in the request, nothing can be put back, and the release says so.
	status, stderr = h.release("in-place", false, "bad-l3", "c3", nil)
	if status != 1 || !strings.HasSuffix(stderr, ". The stack's state holds no previous listeners and clusters to put back\n") {
		t.Errorf("without previous files: exit %d, %q", status, stderr)
	}
}

func TestEnvoyReleaseHandoverThenSettle(t *testing.T) {
	publicDoor := newTestDoor(t, 200)
	h := newEnvoyHost(t, newTestDoor(t, 200).port(), publicDoor.port())
	serving := h.serve()
	must(t, os.WriteFile(h.config, []byte("admin:\n  address: {pipe: {path: /run/limen-envoy/admin.sock}}\n"), 0o644))
	for _, name := range legacyFiles {
		must(t, os.WriteFile(filepath.Join(h.state, name), []byte("old"), 0o600))
	}

	status, stderr := h.release("handover", false, "l2", "c2", map[string]any{"mounts": []string{h.dynamic}})
	if status != 0 {
		t.Fatalf("exit %d: %s", status, stderr)
	}
	want := "the new config's candidate passed the gate for a.test,b.test\n" +
		envoyStandby + " serves the new config beside limen-envoy\n" +
		"installed " + h.config + "\ninstalled " + h.dynamic + "/cds.yaml\ninstalled " + h.dynamic + "/lds.yaml\n" +
		"limen-envoy drained; " + envoyStandby + " takes the new connections\n"
	if h.stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", h.stdout, want)
	}
	wantCalls := []string{"run validate", "rm " + envoyCandidate, "run " + envoyCandidate, "rm " + envoyCandidate, "inspect limen-envoy", "rm " + envoyStandby, "run " + envoyStandby}
	if calls := h.calls(); !slices.Equal(calls[:len(wantCalls)], wantCalls) {
		t.Errorf("docker calls:\n%q\nwant them to begin with:\n%q", calls, wantCalls)
	}
	// The standby runs the new bootstrap with copies of the new dynamic files, and the mounts.
	runs, _ := os.ReadFile(filepath.Join(h.fake, "calls"))
	standbyRun := regexp.MustCompile(`(?m)^run --detach --name ` + envoyStandby + ` .*$`).FindString(string(runs))
	for _, part := range []string{"--network host --restart no -e ENVOY_UID=0 --label limen.envoy.role=standby",
		"-v " + h.state + "/" + envoyStandby + ".yaml:/etc/envoy/envoy.yaml:ro -v " + h.state + "/admin/" + envoyStandby + ":/run/limen-envoy",
		"-v " + h.state + "/" + envoyStandby + ".dynamic:/etc/envoy/dynamic:ro -v " + h.dynamic + ":" + h.dynamic + ":ro",
		"envoyproxy/envoy:v1.36 envoy -c /etc/envoy/envoy.yaml --drain-time-s 1"} {
		if !strings.Contains(standbyRun, part) {
			t.Errorf("the standby's docker run %q lacks %q", standbyRun, part)
		}
	}
	if h.file(filepath.Join(h.state, envoyStandby+".dynamic", "lds.yaml")) != "l2" || h.file(h.config) != "bootstrap: new\n" {
		t.Errorf("the standby's copies or the installed bootstrap are not the new ones")
	}
	if !serving.drained {
		t.Errorf("the serving container was not drained (asked %q)", serving.asked())
	}
	if h.standby.drained {
		t.Errorf("the standby was drained by the release")
	}

	// Settle: the serving container stays the drained one: the standby keeps the door.
	status, stderr = h.request("envoy-settle", h.doorFields(1))
	if status != 1 || stderr != "limen-host: envoy-settle: limen-envoy is not live (it is the drained one: the Docker provider did not replace it); "+envoyStandby+" still serves the new config on the public ports\n" {
		t.Errorf("settle with the drained container: exit %d %q", status, stderr)
	}
	if _, err := os.Stat(filepath.Join(h.fake, "containers", envoyStandby)); err != nil {
		t.Errorf("the standby went with a drained container serving")
	}

	// The Docker provider replaced the container: settle drains and removes the standby.
	h.stopServing()
	os.Remove(filepath.Join(h.state, "admin", "limen-envoy", "admin.sock"))
	h.serve()
	h.stdout.Reset()
	before := len(h.calls())
	status, stderr = h.request("envoy-settle", h.doorFields(2))
	if status != 0 || h.stdout.String() != "the front door answers for a.test,b.test through limen-envoy\n" {
		t.Fatalf("settle: exit %d %q, stdout %q", status, stderr, h.stdout)
	}
	if !h.standby.drained {
		t.Errorf("the standby was not drained before it stopped")
	}
	wantCalls = []string{"ps name=^" + envoyStandby + "$", "stop " + envoyStandby, "rm " + envoyStandby, "rm " + envoyCandidate}
	if calls := h.calls()[before:]; !slices.Equal(calls, wantCalls) {
		t.Errorf("settle's docker calls:\n%q\nwant:\n%q", calls, wantCalls)
	}
	h.gone(t, envoyStandby+".yaml", envoyStandby+".dynamic", "admin/"+envoyStandby, "envoy-good.yaml", "envoy-good.yaml.door", "envoy-pending.yaml")
	if _, err := os.Stat(filepath.Join(h.state, "admin", "limen-envoy", "admin.sock")); err != nil {
		t.Errorf("the serving container's admin went: %v", err)
	}
}

func TestEnvoyReleaseStandbyThatDoesNotStartChangesNothing(t *testing.T) {
	h := newEnvoyHost(t, newTestDoor(t, 200).port(), newTestDoor(t, 200).port())
	h.serve()
	must(t, os.WriteFile(h.config, []byte("old"), 0o644))
	// The standby's container stops at once (a port it cannot bind): the daemon never serves its admin.
	must(t, os.WriteFile(filepath.Join(h.fake, "logs-"+envoyStandby), []byte("critical: cannot bind\nexiting\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(h.fake, "bin", "docker"), []byte(strings.ReplaceAll(strings.ReplaceAll(fakeEnvoyDocker, "FAKE", h.fake),
		`touch "$d/containers/$name"`, `[ "$name" = `+envoyStandby+` ] || touch "$d/containers/$name"`)), 0o755))
	status, stderr := h.release("handover", false, "l2", "c2", nil)
	want := "limen-host: envoy-release: the standby on the public ports did not start: " + envoyStandby + " stopped before it was ready; its last words: critical: cannot bind exiting a line on stderr . Nothing changed: the door serves the previous config\n"
	if status != 1 || stderr != want {
		t.Errorf("exit %d %q\nwant %q", status, stderr, want)
	}
	if h.file(h.config) != "old" {
		t.Errorf("the config was installed")
	}
	h.gone(t, envoyStandby+".yaml", envoyStandby+".dynamic", "admin/"+envoyStandby)
}

func TestEnvoyGateFailsOnAServerError(t *testing.T) {
	candidateDoor := newTestDoor(t, 503)
	h := newEnvoyHost(t, candidateDoor.port(), newTestDoor(t, 200).port())
	h.serve()
	must(t, os.WriteFile(filepath.Join(h.dynamic, "lds.yaml"), []byte("l1"), 0o644))
	status, stderr := h.release("in-place", true, "l2", "c2", nil)
	door := fmt.Sprintf("127.0.0.1:%d", candidateDoor.port())
	want := "limen-host: envoy-release: the new config failed on its candidate (" + door + "): front door gate, not passed within 2 s: " +
		"https://a.test/ (" + door + ") answered 503; https://b.test/ (" + door + ") answered 503. Nothing changed: the door serves the previous config\n"
	if status != 1 || stderr != want {
		t.Errorf("exit %d %q\nwant %q", status, stderr, want)
	}
	// Tried every 0.5 s until the 2 s: several tries.
	if n := len(candidateDoor.requests()); n < 4 {
		t.Errorf("the gate tried %d times", n)
	}
	if h.file(filepath.Join(h.dynamic, "lds.yaml")) != "l1" || h.stdout.String() != "" {
		t.Errorf("the door changed: %q", h.stdout)
	}
	h.gone(t, envoyCandidate+".yaml", "admin/"+envoyCandidate)
	if _, err := os.Stat(filepath.Join(h.fake, "containers", envoyCandidate)); err == nil {
		t.Errorf("the candidate still runs")
	}
}

func TestEnvoyGateFailsOnAnAnswerThatNeverEnds(t *testing.T) {
	publicDoor := newTestDoor(t, 200)
	publicDoor.trickle = 3 * time.Second
	h := newEnvoyHost(t, 1, publicDoor.port())
	h.serve()
	started := time.Now()
	status, stderr := h.request("envoy-settle", h.doorFields(1))
	door := fmt.Sprintf("127.0.0.1:%d", publicDoor.port())
	want := "limen-host: envoy-settle: front door gate, not passed within 1 s: https://a.test/ (" + door + "): no complete answer within 1 s; https://b.test/ (" + door + "): no complete answer within 1 s\n"
	if status != 1 || stderr != want {
		t.Errorf("exit %d %q\nwant %q", status, stderr, want)
	}
	if took := time.Since(started); took > 3*time.Second {
		t.Errorf("the gate took %s: the deadline is on the whole exchange", took)
	}
}

func TestEnvoyAdminAnswerAboveTheLimitIsRefused(t *testing.T) {
	h := newEnvoyHost(t, 1, 1)
	serving := h.serve()
	d := &door{c: &call{ctx: context.Background(), deadlines: map[string]int{"gate-request": 2}}, state: h.state}
	// Exactly at the limit: read. One byte more: refused, whatever it says.
	probe, err := d.admin(d.adminOf("limen-envoy"), "GET", adminRejected)
	must(t, err)
	serving.mu.Lock()
	serving.statsExtra = 1<<20 - len(probe)
	serving.mu.Unlock()
	if text, err := d.admin(d.adminOf("limen-envoy"), "GET", adminRejected); err != nil || len(text) != 1<<20 {
		t.Errorf("an answer of 1 MiB: %d bytes, %v", len(text), err)
	}
	serving.mu.Lock()
	serving.statsExtra++
	serving.mu.Unlock()
	if _, err := d.admin(d.adminOf("limen-envoy"), "GET", adminRejected); err == nil || err.Error() != "GET /stats?filter=update_rejected$: an answer over 1 MiB" {
		t.Errorf("an answer above 1 MiB: %v", err)
	}
	// Through a release: the serving container's admin "did not answer", and nothing changed.
	must(t, os.WriteFile(filepath.Join(h.dynamic, "lds.yaml"), []byte("l1"), 0o644))
	h.candidate.httpsPort = newTestDoor(t, 200).port()
	status, stderr := h.release("in-place", true, "l2", "c2", nil)
	if status != 1 || stderr != "limen-host: envoy-release: limen-envoy's admin did not answer; nothing changed\n" || h.file(filepath.Join(h.dynamic, "lds.yaml")) != "l1" {
		t.Errorf("exit %d %q", status, stderr)
	}
	// An admin that does not answer: the deadline is on the whole exchange.
	stall := filepath.Join(h.root, "stall.sock")
	serveAdmin(t, stall, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(3 * time.Second) }))
	d.c.deadlines["gate-request"] = 1
	if _, err := d.admin(adminAddress{socket: stall}, "GET", adminReady); err == nil || err.Error() != "GET /ready: no answer within 1 s" {
		t.Errorf("a stalled admin: %v", err)
	}
	if _, err := d.admin(adminAddress{socket: filepath.Join(h.root, "none.sock")}, "GET", adminReady); err == nil || err.Error() != "GET /ready: ENOENT" {
		t.Errorf("no admin: %v", err)
	}
}

func TestEnvoyForgetRemovesOnlyTheReleasesLeftovers(t *testing.T) {
	h := newEnvoyHost(t, 1, 1)
	for _, dir := range []string{"admin/limen-envoy", "admin/" + envoyCandidate, envoyStandby + ".dynamic", "admin/" + envoyStandby} {
		must(t, os.MkdirAll(filepath.Join(h.state, dir), 0o700))
	}
	for _, file := range append([]string{"admin/limen-envoy/admin.sock", envoyCandidate + ".yaml", envoyStandby + ".yaml", envoyStandby + ".dynamic/lds.yaml", "keep.yaml"}, legacyFiles...) {
		must(t, os.WriteFile(filepath.Join(h.state, file), []byte("x"), 0o600))
	}
	// A link in the admin directory goes as a link; what it points to stays.
	must(t, os.Symlink(h.config, filepath.Join(h.state, "admin", "limen-envoy", "link")))
	must(t, os.WriteFile(h.config, []byte("config"), 0o644))
	for _, name := range []string{envoyCandidate, envoyStandby, "limen-envoy"} {
		must(t, os.WriteFile(filepath.Join(h.fake, "containers", name), nil, 0o644))
	}
	status, stderr := h.request("envoy-forget", map[string]any{"stateDir": h.state})
	if status != 0 || h.stdout.String() != "the front door release's files removed\n" {
		t.Fatalf("exit %d %q %q", status, stderr, h.stdout)
	}
	entries, _ := os.ReadDir(h.state)
	if len(entries) != 1 || entries[0].Name() != "keep.yaml" {
		t.Errorf("left in the state directory: %v", entries)
	}
	if h.file(h.config) != "config" {
		t.Errorf("the link's target went")
	}
	if calls := h.calls(); !slices.Equal(calls, []string{"rm " + envoyStandby, "rm " + envoyCandidate}) {
		t.Errorf("docker calls %q", calls)
	}
	if _, err := os.Stat(filepath.Join(h.fake, "containers", "limen-envoy")); err != nil {
		t.Errorf("the serving container was removed")
	}
	// A state directory that is not there: nothing to do, the same words.
	h.stdout.Reset()
	if status, _ := h.request("envoy-forget", map[string]any{"stateDir": filepath.Join(h.root, "none")}); status != 0 || h.stdout.String() != "the front door release's files removed\n" {
		t.Errorf("no state directory: exit %d %q", status, h.stdout)
	}
	// A state directory another user can change is refused, and nothing in it is touched.
	must(t, os.Chmod(h.state, 0o777))
	if status, stderr := h.request("envoy-forget", map[string]any{"stateDir": h.state}); status != 1 || !strings.Contains(stderr, "can be changed by everyone") {
		t.Errorf("a state directory everyone can change: exit %d %q", status, stderr)
	}
}

func TestEnvoyRequestsAreRefusedByName(t *testing.T) {
	door := `"container":"limen-envoy","stateDir":"/var/lib/limen/envoy","httpsPort":443,"names":["a.test"],"seconds":30,"drainSeconds":5`
	files := `"files":{"validate":"eA==","candidate":"eA==","bootstrap":"eA==","lds":"eA==","cds":"eA=="}`
	release := `{"command":"envoy-release",` + door + `,"mode":"in-place","config":"/etc/limen/envoy/envoy.yaml","dynamicDir":"/etc/limen/envoy/dynamic","ldsVersion":"l1","cdsVersion":"c1","order":"cds-first","envoyImage":"envoyproxy/envoy:v1.36",`
	for _, c := range []struct{ request, stderr string }{
		{`{"command":"envoy-settle","stateDir":"/x"}`, `limen-host: envoy-settle: "container" is required`},
		{`{"command":"envoy-settle",` + strings.Replace(door, `"seconds":30`, `"seconds":"30"`, 1) + `}`, `limen-host: envoy-settle: field "seconds" must be a number, not a JSON string`},
		{`{"command":"envoy-settle",` + strings.Replace(door, `"drainSeconds":5`, `"drainSeconds":0`, 1) + `}`, `limen-host: envoy-settle: "drainSeconds" must be a whole number of seconds above 0, got 0`},
		{`{"command":"envoy-settle",` + strings.Replace(door, `"limen-envoy"`, `"../x"`, 1) + `}`, `limen-host: envoy-settle: "container" "../x" is not a container name`},
		{`{"command":"envoy-settle",` + strings.Replace(door, `["a.test"]`, `["a.test,b"]`, 1) + `}`, `limen-host: envoy-settle: "names": "a.test,b" is not a DNS name`},
		{release + strings.Replace(files, `"lds":"eA==",`, ``, 1) + `}`, `limen-host: envoy-release: "files" holds no lds file`},
		{release + strings.Replace(files, `"lds":"eA=="`, `"lds":"e!"`, 1) + `}`, `limen-host: envoy-release: "files": the lds file is not base64`},
		{strings.Replace(release, `"in-place"`, `"swap"`, 1) + files + `}`, `limen-host: envoy-release: "mode" must be in-place or handover, got "swap"`},
		{strings.Replace(release, `"cds-first"`, `"both"`, 1) + files + `}`, `limen-host: envoy-release: "order" must be cds-first or lds-first, got "both"`},
		{release + `"previousLdsVersion":"l0",` + files + `}`, `limen-host: envoy-release: "previousLdsVersion" and "previousCdsVersion" come together`},
		{release + `"mounts":["/etc/ssl:x"],` + files + `}`, `limen-host: envoy-release: mount "/etc/ssl:x" is not an absolute path without ':' or ','`},
	} {
		status, stdout, stderr := serveText(t, c.request)
		if status != 1 || stdout != "" || stderr != c.stderr+"\n" {
			t.Errorf("%s:\n got %d %q %q\nwant 1 %q", c.request, status, stdout, stderr, c.stderr)
		}
	}
}

func TestEnvoyAnswersAreReadAsTheBashToolReadThem(t *testing.T) {
	stats := parseStats("cluster_manager.cds.update_rejected: 2\ncluster_manager.cds.version_text: \"c1\"\nlistener_manager.lds.update_rejected: 0\nlistener_manager.lds.version_text: \"l1\"\n")
	if stats.rejected() != "0 2" || !stats.applied("l1", "c1") || stats.applied("l1", "c2") || parseStats("").rejected() != "0 0" {
		t.Errorf("stats: %v", stats)
	}
	if port := httpsListenerPort(`{"listener_statuses":[{"name":"http_80","local_address":{"socket_address":{"port_value":80}}},{"name":"https_443","local_address":{"socket_address":{"port_value":35123}}}]}`); port != 35123 {
		t.Errorf("the candidate's https port: %d", port)
	}
	if port := httpsListenerPort(`{"listener_statuses":[{"name":"https_443"}]}`); port != 0 {
		t.Errorf("an https listener without an address: %d", port)
	}
	if !serverLive(`{"state": "LIVE"}`) || serverLive(`{"state":"DRAINING"}`) || serverLive(`not json`) {
		t.Errorf("server_info's state")
	}
	for config, want := range map[string]int{
		"admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 9901 }\n":                             0,
		"admin:\n  address:\n    socket_address:\n      address: 127.0.0.1\n      port_value: 9901\nstatic_resources:\n": 9901,
		"static_resources:\n  listeners:\n    port_value: 443\nadmin:\n  # port_value: 1\n":                              0,
		"admin:\n  address:\n    pipe: {path: /run/limen-envoy/admin.sock}\n":                                            0,
	} {
		if got := adminPortIn(config); got != want {
			t.Errorf("legacy admin port of %q: %d, want %d", config, got, want)
		}
	}
}
