package main

// install-self and tool-status: the binary installs itself (its own bytes, from /proc/self/exe) and the
// installed tool reads back by its sha256, or as what is there instead.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallSelfAndToolStatus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installs as root: run `go test ./...` as root")
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(self)
	want := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	tool := filepath.Join(dir, "libexec", "limen", "limen-host")

	status := func() toolStatusResult {
		t.Helper()
		code, stdout, stderr := serveText(t, `{"command":"tool-status","path":"`+tool+`"}`)
		if code != 0 {
			t.Fatalf("tool-status: %d %s", code, stderr)
		}
		var got toolStatusResult
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("tool-status said %q: %v", stdout, err)
		}
		return got
	}

	if got := status(); got.Kind != "missing" {
		t.Errorf("before the install: %+v, want missing", got)
	}
	code, stdout, stderr := serveText(t, `{"command":"install-self","path":"`+tool+`","output":"text"}`)
	if code != 0 || stdout != "installed "+tool+"\n" {
		t.Fatalf("install-self: %d %q %q", code, stdout, stderr)
	}
	info, err := os.Stat(tool)
	if err != nil || info.Mode().Perm() != 0o755 || info.Size() != int64(len(self)) {
		t.Fatalf("the installed tool: %v %v", info, err)
	}
	if got := status(); got.Kind != "file" || got.SHA256 != want || got.Owner != "root:root" || got.Mode != "0755" {
		t.Errorf("after the install: %+v, want sha256 %s", got, want)
	}

	// Changed by someone: another owner, or writable by the group, is not a tool root runs.
	os.Chown(tool, 65534, 65534)
	if got := status(); got.Kind != "unsafe" || !strings.Contains(got.Note, "root does not run it") {
		t.Errorf("owned by nobody: %+v", got)
	}
	os.Chown(tool, 0, 0)
	os.Chmod(tool, 0o775)
	if got := status(); got.Kind != "unsafe" {
		t.Errorf("group-writable: %+v", got)
	}
	// A link at the tool's path is reported, never followed; installing again replaces it.
	os.Remove(tool)
	os.Symlink("/bin/sh", tool)
	if got := status(); got.Kind != "symlink" {
		t.Errorf("a link: %+v", got)
	}
	if code, stdout, stderr := serveText(t, `{"command":"install-self","path":"`+tool+`","output":"text"}`); code != 0 || !strings.Contains(stdout, "replaced a symbolic link") {
		t.Fatalf("install-self over a link: %d %q %q", code, stdout, stderr)
	}
	if got := status(); got.Kind != "file" || got.SHA256 != want {
		t.Errorf("after the second install: %+v", got)
	}
	// A directory the app user could change is refused for the install and reported for the status.
	other := filepath.Join(dir, "shared")
	os.Mkdir(other, 0o777)
	os.Chmod(other, 0o777)
	if code, _, stderr := serveText(t, `{"command":"install-self","path":"`+other+`/limen-host"}`); code != 1 || !strings.Contains(stderr, "by everyone") {
		t.Errorf("install-self into a world-writable directory: %d %q", code, stderr)
	}
}
