package fsafe

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// RemoveTree removes path and, when it is a directory, everything in it (`rm -rf`), relative to each
// directory's descriptor (Dir.RemoveTree): a link anywhere below goes, never what it points to. path's
// directory must be one nobody but root can change, and so must path itself when it is a directory
// (RootDir's rule): root empties no directory another user could be filling. A missing path, or a
// missing directory on the way, is removed already.
func RemoveTree(path string) error {
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
