package fsafe

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxTreeDepth: directories nested below the one RemoveTree removes. The directories it removes are
// root's own (the firewall's state: two files); the bound keeps a deep tree from using up descriptors.
const maxTreeDepth = 32

// RemoveTree removes the directory at path and everything in it (`rm -rf`), descriptor-relative: each
// directory is opened with O_NOFOLLOW relative to its parent's descriptor and its entries are unlinked
// there, so a link inside is removed, never followed. Only a directory nobody but root can change, nor
// anything on the way to it (RootDir's rule), is removed; a missing one is no error.
func RemoveTree(path string) error {
	parentPath, name, err := SplitPath(path)
	if err != nil {
		return err
	}
	d, err := Enter(path, nil)
	var refusal *Refusal
	if errors.As(err, &refusal) && refusal.Missing {
		return nil
	}
	if err == nil {
		d.Close()
	}
	if err := RootDir(path, nil); err != nil {
		return fmt.Errorf("%s: not removed: %w", path, err)
	}
	parent, err := Enter(parentPath, nil)
	if err != nil {
		return fmt.Errorf("%s: not removed: %w", path, err)
	}
	defer parent.Close()
	return removeTreeAt(parent.fd, name, path, 0)
}

func removeTreeAt(dirfd int, name, at string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s: more than %d directories deep: not removed", at, maxTreeDepth)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP):
		// Not a directory (any more): the name goes, whatever it is.
		if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("cannot remove %s: %s", at, strerror(err))
		}
		return nil
	case err != nil:
		return fmt.Errorf("cannot open %s: %s", at, strerror(err))
	}
	dir := os.NewFile(uintptr(fd), at)
	defer dir.Close()
	// All the names first, then the removals: a directory is not listed while it changes.
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("cannot list %s: %s", at, strerror(err))
	}
	for _, entry := range names {
		var st unix.Stat_t
		if unix.Fstatat(fd, entry, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := removeTreeAt(fd, entry, at+"/"+entry, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := unix.Unlinkat(fd, entry, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("cannot remove %s/%s: %s", at, entry, strerror(err))
		}
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cannot remove the directory %s: %s", at, strerror(err))
	}
	return nil
}
