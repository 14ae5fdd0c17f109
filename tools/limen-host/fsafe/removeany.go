package fsafe

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxRemoveDepth: how deep RemoveAny goes. The trees it removes are the host tool's own (a container's
// admin directory with its socket, a copy of Envoy's dynamic files): two levels; a deeper one is not
// the tool's and is refused rather than walked.
const maxRemoveDepth = 8

// RemoveAny removes whatever is at path (`rm -rf`): a file or a link is unlinked, a directory goes
// with everything under it, relative to the descriptors of the directories it walks, never following
// a link (a link is removed as itself). path's directory must be one nobody but root can change
// (RootDir's rule), so that nothing in the tree can be swapped by another user while it goes. A
// missing path is no error.
func RemoveAny(path string) error {
	dirPath, name, err := SplitPath(path)
	if err != nil {
		return err
	}
	dir, err := Enter(dirPath, nil)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		if refusal.Missing {
			return nil
		}
		return fmt.Errorf("%s: not removed: %s", path, refusal.Reason)
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	if !dir.EntryGuarded || !dir.Closed() {
		why := dir.Why
		if why == "" {
			why = "it can be changed by " + dir.Others()
		}
		return fmt.Errorf("%s: not removed: %s: %s", path, dirPath, why)
	}
	if err := removeAnyAt(dir.fd, name, 0); err != nil {
		return fmt.Errorf("cannot remove %s: %w", path, err)
	}
	return nil
}

// removeAnyAt removes name in the directory dirfd: a directory after its entries, anything else by unlink.
func removeAnyAt(dirfd int, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return errors.New(strerror(err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %s", name, strerror(err))
		}
		return nil
	}
	if depth >= maxRemoveDepth {
		return fmt.Errorf("%s: more than %d directories deep: not the tool's own", name, maxRemoveDepth)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %s", name, strerror(err))
	}
	var opened unix.Stat_t
	if err := unix.Fstat(fd, &opened); err != nil || opened.Dev != st.Dev || opened.Ino != st.Ino {
		unix.Close(fd)
		return fmt.Errorf("%s: replaced while it was removed", name)
	}
	d := os.NewFile(uintptr(fd), name)
	entries, err := d.Readdirnames(-1)
	if err == nil {
		for _, entry := range entries {
			if err = removeAnyAt(fd, entry, depth+1); err != nil {
				err = fmt.Errorf("%s/%w", name, err)
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s: %s", name, strerror(err))
	}
	return nil
}
