package main

// Programs root starts: by argv only (an absolute path found on a checked PATH, never a shell), each
// with a deadline, and, where the program must not have root's rights, as another user.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

// account: a user a program runs as, with the groups the user database gives it.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

func lookupAccount(u *user.User, err error) (*account, error) {
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("cannot list the groups of user %s: %w", u.Username, err)
	}
	a := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, err
		}
		a.groups = append(a.groups, uint32(g))
	}
	return a, nil
}

// program: one program to run. argv[0] is an absolute path.
type program struct {
	// what the deadline's message names: "nft -c", "envoy --mode validate".
	what    string
	argv    []string
	stdin   []byte
	seconds int
	// as: the user it runs as (its groups set, root's rights gone before the program starts); nil: root.
	as *account
	// env: for a program run as another user, its whole environment (nil: PATH=/usr/bin:/bin and
	// LANG); for root's, variables added to the tool's own (DEBIAN_FRONTEND for apt-get).
	env []string
	// stdout and stderr: where its output goes; nil: the tool's stderr (the tool's stdout is its result).
	stdout, stderr io.Writer
}

// deadlineError: a program stopped at its deadline.
type deadlineError struct {
	what    string
	seconds int
}

func (e *deadlineError) Error() string {
	return fmt.Sprintf("%s did not finish within %d s", e.what, e.seconds)
}

// stoppedError: a program stopped because the tool itself was (a signal: the step's deadline).
type stoppedError struct{ what string }

func (e *stoppedError) Error() string {
	return e.what + " was stopped: the host tool got a signal (the step's deadline)"
}

// interrupted: the program did not finish, so it said nothing about what it was judging.
func interrupted(err error) bool {
	var deadline *deadlineError
	var stopped *stoppedError
	return errors.As(err, &deadline) || errors.As(err, &stopped)
}

// run starts p and waits for it, at most p.seconds: then it gets SIGTERM, and SIGKILL
// limits.KillAfterSeconds later. It stays in the tool's process group, so that the step's own
// deadline (root's `timeout` around the whole step) reaches it too.
func (c *call) run(p program) error {
	ctx, cancel := context.WithTimeout(c.ctx, time.Duration(p.seconds)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = limits.KillAfterSeconds * time.Second
	cmd.Stdin = bytes.NewReader(p.stdin)
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stderr
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if p.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.as.uid, Gid: p.as.gid, Groups: p.as.groups}}
		// Nothing of root's environment: the program reads only what it is given.
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
		if p.env != nil {
			cmd.Env = p.env
		}
		cmd.Dir = "/"
	} else if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	err := cmd.Run()
	switch {
	case c.ctx.Err() != nil:
		return &stoppedError{what: p.what}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &deadlineError{what: p.what, seconds: p.seconds}
	}
	return err
}

// program looks up one of hostCommands as the PATH check found it.
func (c *call) program(name, missing string) (string, error) {
	if path, ok := c.programs[name]; ok {
		return path, nil
	}
	return "", errors.New(missing)
}

// writeAsOwner: a file in the directory of its own (non-root) owner is written by that owner, so that
// root never acts in a directory the app user can change. The owner runs this same binary
// (/proc/self/exe: the file root started, whatever its path has become since) with the same replace
// request on stdin, started with the owner's uid, gid and groups directly (syscall.Credential: setgroups,
// setgid, setuid between fork and exec), by argv. sudo -u (which the bash tool used) would add a PAM
// session and sudoers to what this depends on, and setpriv or runuser a program found on PATH; the
// owner's process gets nothing from root but the request: no environment, no descriptor but its pipes.
func writeAsOwner(c *call, handover *fsafe.Handover, req *replaceRequest) (fsafe.Written, error) {
	owner, err := lookupAccount(user.LookupId(strconv.FormatUint(uint64(handover.UID), 10)))
	if err != nil {
		return fsafe.Written{}, fmt.Errorf("%s: cannot hand the file over to its owner: %w", req.Path, err)
	}
	req.Command, req.Output, req.Deadlines = "replace", "json", nil
	body, err := json.Marshal(req)
	if err != nil {
		return fsafe.Written{}, err
	}
	var stdout, stderr bytes.Buffer
	err = c.run(program{what: "the write of " + req.Path + " as " + owner.name, argv: []string{"/proc/self/exe"}, stdin: body, seconds: limits.HandoverSeconds, as: owner, stdout: &stdout, stderr: &stderr})
	if interrupted(err) {
		return fsafe.Written{}, err
	}
	if err != nil {
		if stderr.Len() == 0 {
			return fsafe.Written{}, fmt.Errorf("%s: the write as %s failed: %w", req.Path, owner.name, err)
		}
		return fsafe.Written{}, errors.New(stripPrefix(stderr.String(), "replace"))
	}
	var written fsafe.Written
	if err := json.Unmarshal(stdout.Bytes(), &written); err != nil {
		return fsafe.Written{}, fmt.Errorf("%s: the write as %s said %q: %w", req.Path, owner.name, stdout.String(), err)
	}
	return written, nil
}

// cappedBuffer keeps the first max bytes written to it and says whether more came (over): a program's
// output that root reads is read only up to a limit, whatever the program prints.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
