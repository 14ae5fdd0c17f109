package main

// The host tool's own install: install-self and tool-status. The stack copies the binary to a fresh
// root-only directory on tmpfs, checks its sha256 against the plan's, and has that copy install itself
// at the tool's path; it reads the installed tool back with tool-status (a missing or changed tool is
// drift, which the next `up` repairs). Neither reads anything but the tool: they run no program.

import (
	"fmt"
	"io"
	"os"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

func init() {
	register("install-self", handle(runInstallSelf, false))
	register("tool-status", handle(runToolStatus, false))
}

// install-self: this binary, as the kernel started it (/proc/self/exe: the file itself, whatever its
// path has become since), written to path (0755 root:root) beside it and renamed into place.
type installSelfRequest struct {
	common
	Path string `json:"path" required:"true"`
}

func (r *installSelfRequest) validate() error { return nil }

func runInstallSelf(_ *call, req *installSelfRequest) (writeResult, error) {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return writeResult{}, fmt.Errorf("cannot read this binary (/proc/self/exe): %w", err)
	}
	defer self.Close()
	content, err := io.ReadAll(io.LimitReader(self, limits.MaxToolBytes+1))
	if err != nil {
		return writeResult{}, fmt.Errorf("cannot read this binary (/proc/self/exe): %w", err)
	}
	written, err := fsafe.ReplaceWithin(req.Path, "0755", "root:root", content, limits.MaxToolBytes)
	return writeResult{written}, err
}

// tool-status: the installed tool's sha256, or what is at its path instead.
type toolStatusRequest struct {
	common
	Path string `json:"path" required:"true"`
}

func (r *toolStatusRequest) validate() error { return nil }

type toolStatusResult struct {
	fsafe.Reading
}

// text: the reading's line, as read prints it.
func (r toolStatusResult) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, r.Line())
	return err
}

func runToolStatus(_ *call, req *toolStatusRequest) (toolStatusResult, error) {
	reading, err := fsafe.Executable(req.Path, limits.MaxToolBytes)
	return toolStatusResult{reading}, err
}
