package main

// Requests as the tool takes them: one typed JSON object, refused by name when it is not what the
// command takes, and the two outputs (JSON; text, files/limen-host.sh's words).

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func serveText(t *testing.T, request string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := serve(context.Background(), strings.NewReader(request), &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

func TestRequestsAreRefusedByName(t *testing.T) {
	for _, c := range []struct{ request, stderr string }{
		{`{"command":"read","paths":["/etc/hostname"],"paht":"/x"}`, `limen-host: read: unknown field "paht" in a read request (its fields: command, output, deadlines, validateOnly, paths)` + "\n"},
		{`{"command":"install-file","path":"/x","mode":"0600","owner":"root:root","contentBase64":""}`, `limen-host: install-file: "check" is required` + "\n"},
		{`{"command":"install-file","path":"","mode":"0600","owner":"root:root","check":"none","contentBase64":""}`, `limen-host: install-file: "path" must not be empty` + "\n"},
		{`{"command":"install-file","path":"/x","mode":600,"owner":"root:root","check":"none","contentBase64":""}`, `limen-host: install-file: field "mode" must be a string, not a JSON number` + "\n"},
		{`{"command":"install-file","path":"/x","mode":"0600","owner":"root:root","check":"none","contentBase64":"A=1"}`, `limen-host: install-file: "contentBase64" is not base64 (at byte 1)` + "\n"},
		{`{"command":"install-file","path":"/x","mode":"0600","owner":"root:root","check":"yaml","contentBase64":""}`, `limen-host: install-file: unknown check 'yaml' (none, nft, ecosystem or envoy)` + "\n"},
		{`{"command":"install-file","path":"/x","mode":"0600","owner":"root:root","check":"envoy","contentBase64":""}`, `limen-host: install-file: check "envoy" needs "envoyImage"` + "\n"},
		{`{"command":"cat","path":"/x","output":"yaml"}`, `limen-host: cat: "output" is "json" or "text", not "yaml"` + "\n"},
		{`{"command":"cat","path":"/x","deadlines":{"pm2":3}}`, `limen-host: cat: unknown deadline "pm2" (known: pm2-call, gate-request, certbot, envoy-validate)` + "\n"},
		{`{"command":"read","paths":[]}`, `limen-host: read: "paths" must list at least one path` + "\n"},
	} {
		status, stdout, stderr := serveText(t, c.request)
		if status != 1 || stdout != "" || stderr != c.stderr {
			t.Errorf("%s:\n got %d %q %q\nwant 1 %q", c.request, status, stdout, stderr, c.stderr)
		}
	}
	for _, request := range []string{`{"command":"pm2-enabel"}`, `{}`, `not json`, `{"command":"cat","path":"/x"} {"command":"cat"}`, `null`} {
		status, _, stderr := serveText(t, request)
		if status != 1 || !strings.Contains(stderr, "usage: limen-host check-ready|install-file|remove-file|") {
			t.Errorf("%s: %d %q", request, status, stderr)
		}
	}
	status, _, stderr := serveText(t, `{"command":"cat","path":"/x","contentBase64":"`+strings.Repeat("A", 3<<20)+`"}`)
	if status != 1 || !strings.HasPrefix(stderr, "limen-host: the request is larger than 2097152 bytes") {
		t.Errorf("a request above the limit: %d %q", status, stderr)
	}
}

func TestOutputs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reads as root: run `go test ./...` as root")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	file := filepath.Join(dir, "env")
	os.WriteFile(file, []byte("A=1\n"), 0o600)

	status, stdout, _ := serveText(t, `{"command":"read","paths":["`+file+`","`+dir+`/none"]}`)
	var read readResult
	if err := json.Unmarshal([]byte(stdout), &read); status != 0 || err != nil || len(read.Readings) != 2 || read.Readings[0].Kind != "file" || read.Readings[1].Kind != "missing" {
		t.Errorf("read as JSON: %d %q", status, stdout)
	}
	status, stdout, _ = serveText(t, `{"command":"read","output":"text","paths":["`+dir+`/none"]}`)
	if status != 0 || stdout != "missing\t-\t-\t-\t-\t"+dir+"/none\t\n" {
		t.Errorf("read as text: %d %q", status, stdout)
	}
	status, stdout, _ = serveText(t, `{"command":"cat","path":"`+file+`"}`)
	if status != 0 || stdout != `{"path":"`+file+`","contentBase64":"QT0xCg=="}`+"\n" {
		t.Errorf("cat as JSON: %d %q", status, stdout)
	}
	// Errors: `limen-host: COMMAND: MESSAGE`, or the bash tool's words (no command) for text.
	_, _, stderr := serveText(t, `{"command":"cat","path":"`+dir+`"}`)
	_, _, text := serveText(t, `{"command":"cat","output":"text","path":"`+dir+`"}`)
	if stderr != "limen-host: cat: "+dir+": not read: it is directory\n" || text != "limen-host: "+dir+": not read: it is directory\n" {
		t.Errorf("errors: %q, %q", stderr, text)
	}
	if status, _, _ := serveText(t, `{"command":"command","name":"no-such-program-here"}`); status != 2 {
		t.Errorf("a command not installed: exit %d, want 2", status)
	}
	status, stdout, _ = serveText(t, `{"command":"replace","path":"`+dir+`/new","mode":"0640","owner":"root:root","contentBase64":"QT0xCg=="}`)
	if content, _ := os.ReadFile(dir + "/new"); status != 0 || stdout != `{"path":"`+dir+`/new","outcome":"installed","writtenBy":"root"}`+"\n" || string(content) != "A=1\n" {
		t.Errorf("replace: %d %q %q", status, stdout, content)
	}
}

// Every registered command is in the usage's order, so that none is missing from the usage line.
func TestEveryCommandIsInTheUsageOrder(t *testing.T) {
	for name := range commands {
		if !slices.Contains(commandOrder, name) {
			t.Errorf("command %q is registered but not in commandOrder", name)
		}
	}
}

// validateOnly judges the request and runs nothing: a valid one answers valid, a bad one is refused by name.
func TestValidateOnlyRunsNothing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "never-written")
	status, stdout, stderr := serveText(t, `{"command":"install-file","validateOnly":true,"output":"text","path":"`+target+`","mode":"0600","owner":"root:root","check":"none","contentBase64":"QT0xCg=="}`)
	if status != 0 || stdout != "valid install-file\n" || stderr != "" {
		t.Errorf("a valid request: %d %q %q", status, stdout, stderr)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("validateOnly wrote %s: %v", target, err)
	}
	status, _, stderr = serveText(t, `{"command":"install-file","validateOnly":true,"path":"`+target+`","mode":"0600","owner":"root:root","check":"yaml","contentBase64":""}`)
	if status != 1 || !strings.Contains(stderr, "unknown check 'yaml'") {
		t.Errorf("a bad request: %d %q", status, stderr)
	}
}
