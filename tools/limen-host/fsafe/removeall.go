package fsafe

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// RemoveAll removes path and, when it is a directory, everything under it (`rm -rf`), each entry
// relative to its directory's descriptor, never through a link: a link anywhere below goes, never what
// it points to. path's directory must be one nobody but root can change. A missing path, or a missing
// directory on the way, is removed already.
func RemoveAll(path string) error {
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
	if !dir.EntryGuarded || !closed(&dir.Stat) {
		why := dir.Why
		if why == "" {
			why = fmt.Sprintf("%s can be changed by %s", dirPath, others(&dir.Stat))
		}
		return fmt.Errorf("%s: not removed: %s", path, why)
	}
	return removeEntry(dir.fd, name, path)
}

func removeEntry(dirfd int, name, path string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM):
		return fmt.Errorf("cannot remove %s: %s", path, strerror(err))
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot open %s to remove what is in it: %s", path, strerror(err))
	}
	d := os.NewFile(uintptr(fd), path)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("cannot list %s to remove what is in it: %s", path, err)
	}
	for _, entry := range names {
		if err := removeEntry(fd, entry, path+"/"+entry); err != nil {
			return err
		}
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cannot remove the directory %s: %s", path, strerror(err))
	}
	return nil
}
