package fsafe

// A directory root alone can change, held open, and the steps taken in it relative to its
// descriptor: new directories and files (O_EXCL, synced), a link swapped in with one rename, whole
// trees removed without following a link. The certificates' published pairs (DIR/current ->
// DIR/VERSION/) are made this way, and certbot's lock is opened this way.

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenRootDir is RootDir that keeps the directory open, for the steps below.
func OpenRootDir(dir string, createMode *uint32) (*Dir, error) {
	d, err := Enter(dir, createMode)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return nil, fmt.Errorf("%s: %s", dir, refusal.Reason)
	}
	if err != nil {
		return nil, err
	}
	if !d.EntryGuarded || !d.Closed() {
		why := d.Why
		if why == "" {
			why = "it can be changed by " + d.Others()
		}
		d.Close()
		return nil, fmt.Errorf("%s: %s; root does not act in it", dir, why)
	}
	return d, nil
}

// MakeDir creates name in d with exactly mode (whatever the umask) and enters it. It fails when
// anything is at the name already: a new directory is the caller's alone.
func (d *Dir) MakeDir(name string, mode uint32) (*Dir, error) {
	old := unix.Umask(0)
	err := unix.Mkdirat(d.fd, name, mode)
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd, name, dirFlags, 0)
	if err != nil {
		return nil, err
	}
	sub := &Dir{fd: fd, EntryGuarded: true}
	if err := unix.Fstat(fd, &sub.Stat); err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// CreateFile writes a new file name in d: O_EXCL and never through a link, created 0600 and given
// mode on its descriptor once written, then synced. A file that could not be written whole is removed.
func (d *Dir) CreateFile(name string, mode uint32, content []byte) error {
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	err = writeAll(fd, content)
	if err == nil {
		err = unix.Fchmod(fd, mode)
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	if closeErr := unix.Close(fd); err == nil {
		err = closeErr
	}
	if err != nil {
		unix.Unlinkat(d.fd, name, 0)
	}
	return err
}

// Sync makes d's entries durable (fsync on the directory): a new file's name, a rename.
func (d *Dir) Sync() error {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// Readlink is the target of the symbolic link name in d.
func (d *Dir) Readlink(name string) (string, error) { return readlinkat(d.fd, name) }

// Exists says whether name in d leads to anything, following a link there (`test -e`). Only for a
// directory root alone can change, whose links are root's own.
func (d *Dir) Exists(name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(d.fd, name, &st, 0) == nil
}

// SwapLink points the symbolic link name in d at target with one rename(2): a new link
// `.NAME.new` is made, renamed over name and synced, so that a reader finds the old target or the
// new one, never no link.
func (d *Dir) SwapLink(name, target string) error {
	next := "." + name + ".new"
	// Left by a run that stopped between the two steps.
	if err := unix.Unlinkat(d.fd, next, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cannot remove the stale %s: %s", next, strerror(err))
	}
	if err := unix.Symlinkat(target, d.fd, next); err != nil {
		return fmt.Errorf("cannot make the link %s: %s", next, strerror(err))
	}
	if err := unix.Renameat(d.fd, next, d.fd, name); err != nil {
		unix.Unlinkat(d.fd, next, 0)
		return fmt.Errorf("cannot rename %s over %s: %s", next, name, strerror(err))
	}
	return d.Sync()
}

// Entry is one name in a directory, and whether it is a directory itself (not a link to one).
type Entry struct {
	Name  string
	IsDir bool
}

// Entries lists d's names ("." and ".." left out), each judged without following it.
func (d *Dir) Entries() ([]Entry, error) {
	names, err := listNames(d.fd)
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(names))
	for _, name := range names {
		var st unix.Stat_t
		if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		entries = append(entries, Entry{Name: name, IsDir: st.Mode&unix.S_IFMT == unix.S_IFDIR})
	}
	return entries, nil
}

func listNames(dirfd int) ([]string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// maxTreeDepth: how deep RemoveTree goes (a directory root alone made; its pairs are one level deep).
const maxTreeDepth = 32

// RemoveTree removes name from d and, when it is a directory, everything in it, as `rm -rf` does,
// but relative to each directory's descriptor: a link is removed, never followed, and a directory
// swapped while it is emptied is refused. A missing name is no error.
func (d *Dir) RemoveTree(name string) error {
	return removeTree(d.fd, name, 0)
}

func removeTree(dirfd int, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("cannot look at %s: %s", name, strerror(err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("cannot remove %s: %s", name, strerror(err))
		}
		return nil
	}
	if depth >= maxTreeDepth {
		return fmt.Errorf("%s: more than %d directories deep: not removed", name, maxTreeDepth)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot enter %s: %s", name, strerror(err))
	}
	var entered unix.Stat_t
	if err := unix.Fstat(fd, &entered); err != nil || entered.Dev != st.Dev || entered.Ino != st.Ino {
		unix.Close(fd)
		return fmt.Errorf("%s was replaced while it was removed", name)
	}
	names, err := listNames(fd)
	if err == nil {
		for _, entry := range names {
			if err = removeTree(fd, entry, depth+1); err != nil {
				err = fmt.Errorf("%s/%w", name, err)
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cannot remove %s: %s", name, strerror(err))
	}
	return nil
}

// OpenLock opens (creating it 0600) the lock file name in d, for flock(2): never through a link,
// and only a regular file. The caller closes it, which releases the lock.
func (d *Dir) OpenLock(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, errors.New("not a regular file")
	}
	return os.NewFile(uintptr(fd), name), nil
}

// NotRead: why ReadFollowing read nothing. Kind is what is there instead of a file: KindMissing
// (the file or a directory on the way), KindUnsafe (a way another user could have changed), or the
// kind at the name (a FIFO, a hard link, a file above the limit...).
type NotRead struct {
	Kind   Kind
	Reason string
}

func (e *NotRead) Error() string { return e.Reason }

// ReadFollowing reads the regular file at path, as Cat does, except that a symbolic link at the
// name itself is followed by the walk's rule for links on the way (every directory so far guards
// its entries, and a trusted user owns the link): certbot's live/NAME/*.pem are links into its
// archive. It returns the content and the file's permission bits.
func ReadFollowing(path string) ([]byte, uint32, error) {
	for range maxLinks + 1 {
		dirPath, name, err := SplitPath(path)
		if err != nil {
			return nil, 0, err
		}
		dir, err := Enter(dirPath, nil)
		var refusal *Refusal
		if errors.As(err, &refusal) {
			kind := KindUnsafe
			if refusal.Missing {
				kind = KindMissing
			}
			return nil, 0, &NotRead{Kind: kind, Reason: fmt.Sprintf("%s: not read: %s", path, refusal.Reason)}
		}
		if err != nil {
			return nil, 0, err
		}
		var l unix.Stat_t
		if unix.Fstatat(dir.fd, name, &l, unix.AT_SYMLINK_NOFOLLOW) == nil && l.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := followable(dir, dirPath, name, &l)
			dir.Close()
			if err != nil {
				return nil, 0, &NotRead{Kind: KindUnsafe, Reason: fmt.Sprintf("%s: not read: %s", path, err)}
			}
			if !strings.HasPrefix(target, "/") {
				target = strings.TrimRight(dirPath, "/") + "/" + target
			}
			path = target
			continue
		}
		f := dir.Look(name)
		dir.Close()
		switch f.Kind {
		case KindFile:
		case KindMissing:
			return nil, 0, &NotRead{Kind: KindMissing, Reason: fmt.Sprintf("%s is missing", path)}
		case KindOversized:
			return nil, 0, &NotRead{Kind: f.Kind, Reason: fmt.Sprintf("%s: not read: %s", path, TooLarge(f.Stat.Size))}
		default:
			return nil, 0, &NotRead{Kind: f.Kind, Reason: fmt.Sprintf("%s: not read: it is %s", path, f.Kind)}
		}
		content, err := readAll(f.File)
		mode := f.Stat.Mode & 0o7777
		f.close()
		if err != nil {
			return nil, 0, &NotRead{Kind: KindOversized, Reason: fmt.Sprintf("%s: not read: %s", path, err)}
		}
		return content, mode, nil
	}
	return nil, 0, &NotRead{Kind: KindUnsafe, Reason: fmt.Sprintf("%s: not read: more than %d symbolic links", path, maxLinks)}
}

// followable: the target of the link name in dir, when the walk's rule lets root follow it.
func followable(dir *Dir, dirPath, name string, l *unix.Stat_t) (string, error) {
	at := strings.TrimRight(dirPath, "/") + "/" + name
	if !dir.EntryGuarded || !guardsEntries(&dir.Stat) {
		return "", fmt.Errorf("%s is a symbolic link that another user could have placed (%s): not followed", at, dir.whoCanChange(dirPath))
	}
	if !trusted(l.Uid) {
		return "", fmt.Errorf("%s is a symbolic link owned by user %s: not followed", at, UserName(l.Uid))
	}
	target, err := readlinkat(dir.fd, name)
	if err != nil {
		return "", fmt.Errorf("cannot read the link %s: %s", at, strerror(err))
	}
	return target, nil
}
