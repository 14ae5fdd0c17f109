package fsafe

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RemoveTree removes path and, when it is a directory, everything in it (`rm -rf`), relative to each
// directory's descriptor (Dir.RemoveTree): a link anywhere below goes, never what it points to. path's
// directory must be one nobody but root can change, and so must path itself when it is a directory
// (RootDir's rule): root empties no directory another user could be filling. A missing path, or a
// missing directory on the way, is removed already.
func RemoveTree(path string) error {
	dir, name, err := enterToRemove(path)
	if dir == nil || err != nil {
		return err
	}
	defer dir.Close()
	if !dir.EntryGuarded || !closed(&dir.Stat) {
		return fmt.Errorf("%s: not removed: %s", path, dir.whoCanChange(filepath.Dir(path)))
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := RootDir(path, nil); err != nil {
			return fmt.Errorf("%s: not removed: %w", path, err)
		}
	}
	if err := dir.RemoveTree(name); err != nil {
		return fmt.Errorf("%s: not removed: %w", path, err)
	}
	return nil
}
