package main

// What holds a container name, against a stand-in docker on PATH (the black-box tests,
// test/files/limen-host-container.tools.test.ts, hold the rest of the judgement): the repository's
// rules, the JSON results, and the answers of a docker that does not behave.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepositoryOf(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("a", 64)
	for ref, want := range map[string]string{
		"registry.lab.test:5000/limen-lab/envoy" + digest:         "registry.lab.test:5000/limen-lab/envoy",
		"registry.lab.test:5000/limen-lab/envoy:v1.38.0" + digest: "registry.lab.test:5000/limen-lab/envoy",
		"envoyproxy/envoy:v1.38.0" + digest:                       "envoyproxy/envoy",
		"docker.io/envoyproxy/envoy:v1.38.0" + digest:             "envoyproxy/envoy",
		"envoy" + digest: "envoy",
	} {
		if got := repositoryOf(ref); got != want {
			t.Errorf("repositoryOf(%q) = %q, want %q", ref, got, want)
		}
	}
}

// fakeDocker: ps answers psOut (exit psStatus), container inspect "sha256:1", image inspect digests,
// rm exits rmStatus; each call is recorded.
func fakeDocker(t *testing.T, psOut string, psStatus int, digests string, rmStatus int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs programs as root: run `go test ./...` as root")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	writeFakeProgram(t, filepath.Join(bin, "docker"), fmt.Sprintf(`#!/bin/sh
echo "docker $*" >> %s
case "$1" in
    ps) printf %q; [ %d = 0 ] || echo "Cannot connect to the Docker daemon" >&2; exit %d ;;
    container) echo sha256:1 ;;
    image) printf %q ;;
    rm) echo "$3"; exit %d ;;
esac
`, calls, psOut, psStatus, psStatus, digests, rmStatus))
	t.Setenv("PATH", bin+":/usr/sbin:/usr/bin:/sbin:/bin")
	return calls
}

func TestContainerClaim(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	hub := "docker.io/envoyproxy/envoy:v1.38.0@" + digest
	request := func(command string) string {
		return `{"command":"` + command + `","name":"limen-envoy","image":"` + hub + `"}`
	}

	// Docker lists Docker Hub's images without docker.io/: the planned image, kept.
	fakeDocker(t, "c1\n", 0, "envoyproxy/envoy@"+digest+"\n\n", 0)
	if status, stdout, stderr := serveText(t, request("container-claim")); status != 0 || stdout != `{"holder":"planned","id":"c1","imageId":"sha256:1","removed":false}`+"\n" {
		t.Errorf("the planned image: %d %q %q", status, stdout, stderr)
	}

	// A foreign holder is removed; docker rm's own output stays out of the result.
	calls := fakeDocker(t, "c2\n", 0, "someone/envoy@"+digest+"\n", 0)
	if status, stdout, stderr := serveText(t, request("container-claim")); status != 0 || stdout != `{"holder":"foreign","id":"c2","imageId":"sha256:1","removed":true}`+"\n" {
		t.Errorf("a foreign holder: %d %q %q", status, stdout, stderr)
	}
	want := "docker ps --all --no-trunc --quiet --filter name=^/limen-envoy$\ndocker container inspect --format {{.Image}} c2\n" +
		"docker image inspect --format {{range .RepoDigests}}{{println .}}{{end}} sha256:1\ndocker rm --force c2\n"
	if got := contentOrError(calls); got != want {
		t.Errorf("docker was asked:\n%s\nwant:\n%s", got, want)
	}

	// container-holder only says: nothing is removed.
	calls = fakeDocker(t, "c2\n", 0, "", 0)
	if status, stdout, _ := serveText(t, request("container-holder")); status != 0 || stdout != `{"holder":"foreign","id":"c2","imageId":"sha256:1"}`+"\n" || strings.Contains(contentOrError(calls), "docker rm") {
		t.Errorf("container-holder: %d %q, docker was asked %q", status, stdout, contentOrError(calls))
	}

	for what, c := range map[string]struct {
		psOut    string
		psStatus int
		rmStatus int
		stderr   string
	}{
		"a daemon that does not answer": {"", 1, 0, "limen-host: container-claim: docker did not answer: cannot tell what holds container name limen-envoy\n"},
		"two containers of one name":    {"c1\nc2\n", 0, 0, "limen-host: container-claim: docker ps names more than one container limen-envoy: \"c1\\nc2\"\n"},
		"a removal that fails":          {"c2\n", 0, 1, "limen-host: container-claim: cannot remove container limen-envoy (c2, image sha256:1)\n"},
	} {
		fakeDocker(t, c.psOut, c.psStatus, "", c.rmStatus)
		status, stdout, stderr := serveText(t, request("container-claim"))
		// docker's own words come first on the tool's stderr (os.Stderr, not captured here).
		if status != 1 || stdout != "" || stderr != c.stderr {
			t.Errorf("%s: %d %q %q", what, status, stdout, stderr)
		}
	}
}
