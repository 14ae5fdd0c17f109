package fsafe

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinks: symbolic links followed on the way to one directory, as the kernel's own limit.
const maxLinks = 40

// Refusal: a directory that cannot be reached without following a symbolic link an untrusted user
// could have placed, or that is missing (Missing). Reason says which component, and who could change it.
type Refusal struct {
	Reason  string
	Missing bool
}

func (r *Refusal) Error() string { return r.Reason }

// Dir is a directory reached by Enter, held open (O_PATH) until Close.
type Dir struct {
	fd int
	// EntryGuarded: no untrusted user could have replaced the directory or anything on the way to it.
	EntryGuarded bool
	// Why: who could, when EntryGuarded is false, or who can change the directory's own entries; empty
	// when nobody untrusted can.
	Why string
	// Stat: the directory itself, by fstat on its descriptor.
	Stat unix.Stat_t
}

// Closed reports whether only its trusted owner can change the directory's entries (no sticky exception).
func (d *Dir) Closed() bool { return closed(&d.Stat) }

// Others names who besides the trusted users can change the directory.
func (d *Dir) Others() string { return others(&d.Stat) }

// whoCanChange says why the directory at dirPath is not one only root can change: the walk's reason, or
// who else may change its entries.
func (d *Dir) whoCanChange(dirPath string) string {
	if d.Why != "" {
		return d.Why
	}
	return fmt.Sprintf("%s can be changed by %s", dirPath, others(&d.Stat))
}

// Close releases the directory's descriptor.
func (d *Dir) Close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// frame: a directory entered on the way, kept open so that ".." returns to it rather than to whatever
// its child's parent has become by then.
type frame struct {
	fd           int
	at           string
	guarded      bool
	why          string
	entryGuarded bool
}

func components(path string) []string {
	var out []string
	for _, part := range strings.Split(path, "/") {
		if part != "" && part != "." {
			out = append(out, part)
		}
	}
	return out
}

const dirFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// mkdirHook: a test's way in between two steps (the race of two steps creating the same directory).
var mkdirHook = func(dirfd int, name string, mode uint32) error { return unix.Mkdirat(dirfd, name, mode) }

// Enter walks to dir one component at a time from "/", creating what is missing when createMode is
// given and only trusted users could have changed the way there (directories on the way 0755, dir
// itself createMode, whatever the umask). It returns a *Refusal when dir cannot be reached without
// following a symbolic link an untrusted user could have placed, or is missing; any other error stops
// the caller.
func Enter(dir string, createMode *uint32) (*Dir, error) {
	if !strings.HasPrefix(dir, "/") {
		return nil, fmt.Errorf("%s is not an absolute path", dir)
	}
	todo := components(dir)
	var (
		cur          = -1
		here         unix.Stat_t
		above        []frame
		at           string
		links        int
		entryGuarded bool
		guarded      bool
		why          string
	)
	closeAll := func() {
		for _, f := range above {
			unix.Close(f.fd)
		}
		above = nil
		if cur >= 0 {
			unix.Close(cur)
			cur = -1
		}
	}
	fromRoot := func() error {
		closeAll()
		fd, err := unix.Open("/", dirFlags, 0)
		if err != nil {
			return fmt.Errorf("cannot enter /: %s", strerror(err))
		}
		cur = fd
		if err := unix.Fstat(cur, &here); err != nil {
			return fmt.Errorf("cannot enter /: %s", strerror(err))
		}
		at, entryGuarded = "", true
		guarded = guardsEntries(&here)
		why = ""
		if !guarded {
			why = "/ can be changed by " + others(&here)
		}
		return nil
	}
	fail := func(err error) (*Dir, error) {
		closeAll()
		return nil, err
	}
	if err := fromRoot(); err != nil {
		return fail(err)
	}
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if name == ".." {
			if len(above) == 0 {
				// ".." of "/" is "/".
				at, entryGuarded = "", true
				continue
			}
			f := above[len(above)-1]
			above = above[:len(above)-1]
			unix.Close(cur)
			cur = f.fd
			at, guarded, why, entryGuarded = f.at, f.guarded, f.why, f.entryGuarded
			if err := unix.Fstat(cur, &here); err != nil {
				return fail(fmt.Errorf("cannot enter %s/..: %s", at, strerror(err)))
			}
			continue
		}
		var l unix.Stat_t
		err := unix.Fstatat(cur, name, &l, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) && createMode != nil && guarded {
			mode := uint32(0o755)
			if len(todo) == 0 {
				mode = *createMode
			}
			// Exactly this mode, whatever the umask. Another step of the same deploy may create it in the
			// same instant (two certificates' directories under one parent): that one is judged below
			// like any directory found there.
			old := unix.Umask(0)
			made := mkdirHook(cur, name, mode)
			unix.Umask(old)
			if made != nil && !errors.Is(made, unix.EEXIST) {
				return fail(fmt.Errorf("cannot create %s/%s: %s", at, name, strerror(made)))
			}
			err = unix.Fstatat(cur, name, &l, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fail(&Refusal{Reason: fmt.Sprintf("%s/%s is missing", at, name), Missing: true})
		}
		if l.Mode&unix.S_IFMT == unix.S_IFLNK {
			if !guarded {
				return fail(&Refusal{Reason: fmt.Sprintf("%s/%s is a symbolic link that another user could have placed (%s): not followed", at, name, why)})
			}
			if !trusted(l.Uid) {
				return fail(&Refusal{Reason: fmt.Sprintf("%s/%s is a symbolic link owned by user %s: not followed", at, name, UserName(l.Uid))})
			}
			links++
			if links > maxLinks {
				return fail(fmt.Errorf("too many symbolic links on the way to %s", dir))
			}
			target, err := readlinkat(cur, name)
			if err != nil {
				return fail(fmt.Errorf("cannot read the link %s/%s: %s", at, name, strerror(err)))
			}
			if strings.HasPrefix(target, "/") {
				if err := fromRoot(); err != nil {
					return fail(err)
				}
			}
			todo = append(components(target), todo...)
			continue
		}
		if l.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fail(&Refusal{Reason: fmt.Sprintf("%s/%s is not a directory", at, name)})
		}
		fd, err := unix.Openat(cur, name, dirFlags, 0)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOENT) {
			// Swapped for something else between the look and the open.
			return fail(&Refusal{Reason: fmt.Sprintf("%s/%s was replaced while it was entered", at, name)})
		}
		if err != nil {
			return fail(fmt.Errorf("cannot enter %s/%s: %s", at, name, strerror(err)))
		}
		var entered unix.Stat_t
		if err := unix.Fstat(fd, &entered); err != nil {
			unix.Close(fd)
			return fail(fmt.Errorf("cannot enter %s/%s: %s", at, name, strerror(err)))
		}
		if entered.Dev != l.Dev || entered.Ino != l.Ino {
			unix.Close(fd)
			return fail(&Refusal{Reason: fmt.Sprintf("%s/%s was replaced while it was entered", at, name)})
		}
		above = append(above, frame{fd: cur, at: at, guarded: guarded, why: why, entryGuarded: entryGuarded})
		cur, here = fd, entered
		entryGuarded = guarded
		if guarded && !guardsEntries(&here) {
			guarded = false
			why = fmt.Sprintf("%s/%s can be changed by %s", at, name, others(&here))
		}
		at += "/" + name
	}
	d := &Dir{fd: cur, EntryGuarded: entryGuarded, Why: why, Stat: here}
	cur = -1
	closeAll()
	return d, nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// SplitPath splits an absolute path to a file into its directory and its name.
func SplitPath(path string) (string, string, error) {
	i := strings.LastIndex(path, "/")
	bad := fmt.Errorf("%s is not an absolute path to a file", path)
	if i < 0 || !strings.HasPrefix(path, "/") {
		return "", "", bad
	}
	dir, name := path[:i], path[i+1:]
	if name == "" || name == "." || name == ".." {
		return "", "", bad
	}
	if dir == "" {
		dir = "/"
	}
	return dir, name, nil
}
