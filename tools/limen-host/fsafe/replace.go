package fsafe

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/user"
	"regexp"
	"strconv"

	"golang.org/x/sys/unix"
)

// Written is what Replace did: Outcome is installed, unchanged or fixed (same content, mode and owner
// set on the file's own descriptor); Replaced says what was at the name instead of a file, if anything.
type Written struct {
	Path     string `json:"path"`
	Outcome  string `json:"outcome"`
	Replaced string `json:"replaced,omitempty"`
	// WrittenBy: root, or the file's owner when the file is in that owner's own directory.
	WrittenBy string `json:"writtenBy"`
}

// Line is the outcome as limen-file prints it.
func (w Written) Line() string {
	switch w.Outcome {
	case "unchanged":
		return "unchanged " + w.Path
	case "fixed":
		return "fixed mode and owner of " + w.Path
	}
	if w.Replaced != "" {
		return fmt.Sprintf("installed %s (replaced %s that was there)", w.Path, w.Replaced)
	}
	return "installed " + w.Path
}

// Handover: the file's directory belongs to the file's own (non-root) owner, who must write the file
// (the same Replace, run as that user), so that root never acts in a directory the app user can change.
type Handover struct {
	Path string
	UID  uint32
	GID  uint32
}

func (h *Handover) Error() string {
	return fmt.Sprintf("%s: its directory belongs to user %s, who writes it", h.Path, UserName(h.UID))
}

var (
	modeText  = regexp.MustCompile(`^0?[0-7]{3,4}$`)
	ownerText = regexp.MustCompile(`^([^:]+):([^:]+)$`)
)

// Mode parses an octal mode as limen-file's replace takes it ("0640").
func Mode(text string) (uint32, error) {
	if !modeText.MatchString(text) {
		return 0, fmt.Errorf("replace: MODE must be octal, got '%s'", text)
	}
	mode, err := strconv.ParseUint(text, 8, 32)
	return uint32(mode), err
}

// Owner resolves `user:group` to ids in the host's user database.
func Owner(path, owner string) (uint32, uint32, error) {
	m := ownerText.FindStringSubmatch(owner)
	if m == nil {
		return 0, 0, fmt.Errorf("replace: OWNER must be user:group, got '%s'", owner)
	}
	u, err := user.Lookup(m[1])
	if err != nil {
		return 0, 0, fmt.Errorf("%s: user %s does not exist", path, m[1])
	}
	g, err := user.LookupGroup(m[2])
	if err != nil {
		return 0, 0, fmt.Errorf("%s: group %s does not exist", path, m[2])
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, 0, err
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, 0, err
	}
	return uint32(uid), uint32(gid), nil
}

// renameHook: a test's way in between two steps (a watcher swapping the new file around the rename).
var renameHook = func(dirfd int, from, to string) error { return unix.Renameat(dirfd, from, dirfd, to) }

// Replace writes content to path through a new file beside it, renamed into place, with the mode
// (octal text) and owner (`user:group`) set on the new file's descriptor before the rename. Root
// creates missing directories (0755) where only trusted users could have changed the way. When the
// directory is the file's own (non-root) owner's, root writes nothing and returns a *Handover: the
// caller runs the same Replace as that user.
func Replace(path, modeArg, ownerArg string, content []byte) (Written, error) {
	return ReplaceWithin(path, modeArg, ownerArg, content, MaxFileBytes)
}

// ReplaceWithin is Replace for content up to limit bytes rather than MaxFileBytes: the host tool's own
// binary (limits.MaxToolBytes), which only root writes, from its own /proc/self/exe. A file at the
// name above MaxFileBytes is not read to compare: it is replaced.
func ReplaceWithin(path, modeArg, ownerArg string, content []byte, limit int64) (Written, error) {
	mode, err := Mode(modeArg)
	if err != nil {
		return Written{}, err
	}
	uid, gid, err := Owner(path, ownerArg)
	if err != nil {
		return Written{}, err
	}
	dirPath, name, err := SplitPath(path)
	if err != nil {
		return Written{}, err
	}
	if int64(len(content)) > limit {
		return Written{}, fmt.Errorf("%s: not written: the new content is %s", path, tooLargeFor(int64(len(content)), limit))
	}
	var create *uint32
	if unix.Geteuid() == 0 {
		dirMode := uint32(0o755)
		create = &dirMode
	}
	dir, err := Enter(dirPath, create)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return Written{}, fmt.Errorf("%s: not written: %s", path, refusal.Reason)
	}
	if err != nil {
		return Written{}, err
	}
	defer dir.Close()
	d := &dir.Stat
	if !dir.EntryGuarded || !closed(d) {
		if unix.Geteuid() == 0 && uid != 0 && dir.EntryGuarded && d.Uid == uid && d.Mode&(unix.S_IWOTH|unix.S_IWGRP) == 0 {
			return Written{}, &Handover{Path: path, UID: uid, GID: gid}
		}
		return Written{}, fmt.Errorf("%s: not written: %s", path, dir.whoCanChange(dirPath))
	}
	by := UserName(uint32(unix.Geteuid()))
	old := dir.Look(name)
	defer old.close()
	// The old file is read only when it could be the same (its size, checked on the descriptor, is the new one's).
	if old.Kind == KindFile && old.Stat.Size == int64(len(content)) {
		if same, err := readAll(old.File); err == nil && bytes.Equal(same, content) {
			if old.Stat.Mode&0o7777 == mode && old.Stat.Uid == uid && old.Stat.Gid == gid {
				return Written{Path: path, Outcome: "unchanged", WrittenBy: by}, nil
			}
			// Same content, other mode or owner: fixed on the descriptor just judged, so the file (and its
			// mtime, which tells whether running apps have loaded it) stays the one they read. A user who
			// may not hand the file over (the app user, for a file root owns) rewrites it below instead.
			fd := int(old.File.Fd())
			if unix.Fchmod(fd, mode) == nil && unix.Fchown(fd, int(uid), int(gid)) == nil {
				return Written{Path: path, Outcome: "fixed", WrittenBy: by}, nil
			}
		}
	}
	if old.Kind == KindDirectory {
		return Written{}, fmt.Errorf("%s: a directory is in the way; the stack does not remove directories", path)
	}
	tmp, fd, err := createBeside(dir.fd, name)
	if err != nil {
		return Written{}, fmt.Errorf("%s: cannot create a temporary file in %s: %s", path, dirPath, strerror(err))
	}
	var mine unix.Stat_t
	err = unix.Fstat(fd, &mine)
	if err == nil {
		err = writeAll(fd, content)
	}
	if err == nil {
		err = unix.Fchmod(fd, mode)
	}
	if err == nil {
		err = unix.Fchown(fd, int(uid), int(gid))
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	// The new file as it now is (mode, owner, size), to know it again by more than its inode number,
	// which the filesystem may give to whatever another user creates after it is removed.
	unix.Fstat(fd, &mine)
	unix.Close(fd)
	if err != nil {
		removeIfOurs(dir.fd, tmp, &mine)
		return Written{}, fmt.Errorf("%s: cannot write the new file in %s: %s", path, dirPath, strerror(err))
	}
	if err := renameHook(dir.fd, tmp, name); err != nil {
		// Whatever now stands at the temporary name: the new file, or what another user put there after
		// removing it (a watcher can swap it for a link between the failed rename and this look).
		ours := removeIfOurs(dir.fd, tmp, &mine)
		if !ours && errors.Is(err, unix.ENOENT) {
			return Written{}, fmt.Errorf("%s: the new file %s/%s was removed before it could be renamed into place: something is changing %s during the install", path, dirPath, tmp, dirPath)
		}
		return Written{}, fmt.Errorf("%s: cannot rename the new file into place: %s", path, strerror(err))
	}
	var now unix.Stat_t
	if err := unix.Fstatat(dir.fd, name, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil || !sameFile(&now, &mine) {
		what := "missing"
		if err == nil {
			what = found[kindOf(now.Mode)]
			if what == "" {
				what = "another file"
			}
		}
		return Written{}, fmt.Errorf("%s: right after the rename, %s is %s, not the file just written: something is changing %s during the install", path, path, what, dirPath)
	}
	replaced := found[old.Kind]
	if old.Kind == KindOversized && old.Stat.Size <= limit {
		replaced = ""
	}
	return Written{Path: path, Outcome: "installed", Replaced: replaced, WrittenBy: by}, nil
}

// createBeside creates `.limen-XXXXXX.NAME` in the directory: O_EXCL, never through a link, 0600.
func createBeside(dirfd int, name string) (string, int, error) {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var err error
	for range 100 {
		suffix := make([]byte, 6)
		for i := range suffix {
			suffix[i] = letters[rand.IntN(len(letters))]
		}
		tmp := ".limen-" + string(suffix) + "." + name
		var fd int
		fd, err = unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return tmp, fd, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", -1, err
		}
	}
	return "", -1, err
}

func writeAll(fd int, content []byte) error {
	for len(content) > 0 {
		n, err := unix.Write(fd, content)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		content = content[n:]
	}
	return nil
}

// sameFile: the same inode, and still the file written (type and mode, owner, size): an inode number
// alone may have been reused (tmpfs gives a removed file's number to the next link made there).
func sameFile(a, b *unix.Stat_t) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid && a.Size == b.Size
}

// removeIfOurs unlinks name when it is still the file described by mine, and says whether it was.
func removeIfOurs(dirfd int, name string, mine *unix.Stat_t) bool {
	var there unix.Stat_t
	if unix.Fstatat(dirfd, name, &there, unix.AT_SYMLINK_NOFOLLOW) != nil || mine.Ino == 0 || !sameFile(&there, mine) {
		return false
	}
	unix.Unlinkat(dirfd, name, 0)
	return true
}

// enterToRemove walks to path's directory for a removal. A way that is missing is nothing to remove: no
// directory and no error. A way another user could have changed is refused, naming who.
func enterToRemove(path string) (*Dir, string, error) {
	dirPath, name, err := SplitPath(path)
	if err != nil {
		return nil, "", err
	}
	dir, err := Enter(dirPath, nil)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		if refusal.Missing {
			return nil, name, nil
		}
		return nil, "", fmt.Errorf("%s: not removed: %s", path, refusal.Reason)
	}
	return dir, name, err
}

// Remove unlinks path where it is: a link there goes, never what it points to. A missing directory
// is a removed file; a directory at path is refused.
func Remove(path string) error {
	dir, name, err := enterToRemove(path)
	if dir == nil || err != nil {
		return err
	}
	defer dir.Close()
	var l unix.Stat_t
	if unix.Fstatat(dir.fd, name, &l, unix.AT_SYMLINK_NOFOLLOW) == nil && l.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%s: a directory is in the way; the stack does not remove directories", path)
	}
	if err := unix.Unlinkat(dir.fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cannot remove %s: %s", path, strerror(err))
	}
	return nil
}

// RemoveEmptyDir removes the directory at path when it is empty, through its parent's descriptor.
// It says whether it did; a directory with entries, or none, is no error.
func RemoveEmptyDir(path string) (bool, error) {
	parent, name, err := SplitPath(path)
	if err != nil {
		return false, err
	}
	dir, err := Enter(parent, nil)
	if err != nil {
		var refusal *Refusal
		if errors.As(err, &refusal) && refusal.Missing {
			return false, nil
		}
		return false, err
	}
	defer dir.Close()
	err = unix.Unlinkat(dir.fd, name, unix.AT_REMOVEDIR)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return false, nil
	}
	return false, fmt.Errorf("cannot remove the directory %s: %s", path, strerror(err))
}
