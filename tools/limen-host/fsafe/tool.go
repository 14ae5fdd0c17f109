package fsafe

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Executable is what is at the host tool's own path: a regular file with one name, owned by root and
// writable by nobody else, in a directory nobody but root can change, hashed up to limit bytes. Kind
// is KindFile only then; otherwise it says what is there instead and Note says why, and SHA256 is
// empty. The stack reads its tool this way (a missing or changed tool is drift) and root runs nothing
// here: it only hashes.
func Executable(path string, limit int64) (Reading, error) {
	dir, name, early, err := enterToRead(path)
	if dir == nil {
		return early, err
	}
	defer dir.Close()
	if !dir.EntryGuarded || !closed(&dir.Stat) {
		return Reading{Kind: KindUnsafe, Path: path, Note: dir.whoCanChange(filepath.Dir(path))}, nil
	}
	fd, err := unix.Openat(dir.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		f := dir.Look(name)
		f.close()
		return Reading{Kind: f.Kind, Path: path}, nil
	}
	file := os.NewFile(uintptr(fd), name)
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Reading{Kind: KindUnreadable, Path: path, Note: strerror(err)}, nil
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return Reading{Kind: kindOf(st.Mode), Path: path}, nil
	case st.Nlink > 1:
		return Reading{Kind: KindHardlink, Path: path, Note: fmt.Sprintf("%d names", st.Nlink)}, nil
	case st.Size > limit:
		return Reading{Kind: KindOversized, Path: path, Note: tooLargeFor(st.Size, limit)}, nil
	case st.Uid != 0 || st.Mode&(unix.S_IWGRP|unix.S_IWOTH) != 0:
		return Reading{Kind: KindUnsafe, Path: path, Note: fmt.Sprintf("%s is owned by %s with mode %04o: root does not run it", path, OwnerName(st.Uid, st.Gid), st.Mode&0o7777)}, nil
	}
	hash := sha256.New()
	n, err := io.Copy(hash, io.LimitReader(file, limit+1))
	if err != nil {
		return Reading{Kind: KindUnreadable, Path: path, Note: strerror(err)}, nil
	}
	if n > limit {
		return Reading{Kind: KindOversized, Path: path, Note: fmt.Sprintf("it grew past the limit of %d bytes while it was read", limit)}, nil
	}
	return Reading{
		Kind:   KindFile,
		Path:   path,
		Mode:   fmt.Sprintf("%04o", st.Mode&0o7777),
		Owner:  OwnerName(st.Uid, st.Gid),
		MTime:  st.Mtim.Sec,
		SHA256: hex.EncodeToString(hash.Sum(nil)),
	}, nil
}
