package fsafe

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"limen-infra/tools/limen-host/limits"

	"golang.org/x/sys/unix"
)

// MaxFileBytes: nothing is read past it (limits.MaxFileBytes says why).
const MaxFileBytes = limits.MaxFileBytes

// Kind is what is at a path, in limen-file's words (hostio/limen-file.ts, FileKind).
type Kind string

const (
	KindFile       Kind = "file"
	KindMissing    Kind = "missing"
	KindSymlink    Kind = "symlink"
	KindFIFO       Kind = "fifo"
	KindDirectory  Kind = "directory"
	KindSocket     Kind = "socket"
	KindDevice     Kind = "device"
	KindHardlink   Kind = "hardlink"
	KindOversized  Kind = "oversized"
	KindUnsafe     Kind = "unsafe"
	KindUnreadable Kind = "unreadable"
)

func kindOf(mode uint32) Kind {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return KindFIFO
	case unix.S_IFDIR:
		return KindDirectory
	case unix.S_IFSOCK:
		return KindSocket
	case unix.S_IFCHR, unix.S_IFBLK:
		return KindDevice
	case unix.S_IFLNK:
		return KindSymlink
	}
	return KindUnreadable
}

// found: what each kind that is not a plain file is, in a sentence ("replaced a FIFO that was there").
var found = map[Kind]string{
	KindSymlink:    "a symbolic link",
	KindFIFO:       "a FIFO",
	KindSocket:     "a socket",
	KindDevice:     "a device",
	KindHardlink:   "a hard link to a file with other names",
	KindOversized:  "a file larger than the limit",
	KindUnreadable: "something unreadable",
}

// Found is what Look found at a name: for KindFile, the open file (the caller closes it).
type Found struct {
	Kind Kind
	File *os.File
	Stat unix.Stat_t
}

func (f *Found) close() {
	if f.File != nil {
		f.File.Close()
		f.File = nil
	}
}

// Look opens name in d without following it or waiting on it. KindHardlink: a regular file that also
// has another name, which could be any file on this filesystem. KindOversized: a regular file larger
// than MaxFileBytes, which is not read.
func (d *Dir) Look(name string) Found {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return Found{Kind: KindMissing}
		case errors.Is(err, unix.ELOOP):
			return Found{Kind: KindSymlink}
		case errors.Is(err, unix.ENXIO):
			return Found{Kind: KindSocket}
		}
		var l unix.Stat_t
		if unix.Fstatat(d.fd, name, &l, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return Found{Kind: kindOf(l.Mode), Stat: l}
		}
		return Found{Kind: KindUnreadable}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return Found{Kind: KindUnreadable}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		unix.Close(fd)
		return Found{Kind: kindOf(st.Mode), Stat: st}
	case st.Nlink > 1:
		unix.Close(fd)
		return Found{Kind: KindHardlink, Stat: st}
	case st.Size > MaxFileBytes:
		unix.Close(fd)
		return Found{Kind: KindOversized, Stat: st}
	}
	return Found{Kind: KindFile, File: os.NewFile(uintptr(fd), name), Stat: st}
}

// TooLarge is an oversized file's size against the limit, in words.
func TooLarge(bytes int64) string {
	return tooLargeFor(bytes, MaxFileBytes)
}

func tooLargeFor(bytes, limit int64) string {
	return fmt.Sprintf("%d bytes, above the limit of %d bytes for a file root reads", bytes, limit)
}

// errGrew: a file judged within the limit on its descriptor that grew past it while it was read (the
// app user appending to it): it is not read further.
var errGrew = fmt.Errorf("it grew past the limit of %d bytes for a file root reads while it was read", MaxFileBytes)

// readAll reads an open file, never past MaxFileBytes.
func readAll(f *os.File) ([]byte, error) {
	content, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(content)) > MaxFileBytes {
		return nil, errGrew
	}
	return content, nil
}

// Reading is one line of limen-file's read (hostio/limen-file.ts, parseFileReadings).
type Reading struct {
	Kind Kind   `json:"kind"`
	Path string `json:"path"`
	// Mode (four octal digits), Owner (user:group), MTime (seconds) and SHA256: for a file only.
	Mode   string `json:"mode,omitempty"`
	Owner  string `json:"owner,omitempty"`
	MTime  int64  `json:"mtime,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Note: why the path was not read (unsafe), how many names a hard link has, or an oversized
	// file's size against the limit.
	Note string `json:"note"`
}

// Line is the reading as limen-file prints it: KIND MODE OWNER MTIME SHA256 PATH NOTE, tab-separated.
func (r Reading) Line() string {
	if r.Kind != KindFile {
		return fmt.Sprintf("%s\t-\t-\t-\t-\t%s\t%s", r.Kind, r.Path, r.Note)
	}
	sha := r.SHA256
	if sha == "" {
		sha = "-"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s\t%s", r.Kind, r.Mode, r.Owner, r.MTime, sha, r.Path, r.Note)
}

// enterToRead walks to path's directory for a read. A way that is missing or that another user could have
// changed is the reading itself (missing, unsafe with the reason), with no directory.
func enterToRead(path string) (*Dir, string, Reading, error) {
	dirPath, name, err := SplitPath(path)
	if err != nil {
		return nil, "", Reading{}, err
	}
	dir, err := Enter(dirPath, nil)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		kind := KindUnsafe
		if refusal.Missing {
			kind = KindMissing
		}
		return nil, "", Reading{Kind: kind, Path: path, Note: refusal.Reason}, nil
	}
	if err != nil {
		return nil, "", Reading{}, err
	}
	return dir, name, Reading{}, nil
}

// Read says what is at path: a file's mode, owner, mtime and content's sha256, or what is there
// instead. The error is for a path that is not an absolute path to a file, or a walk that failed.
func Read(path string) (Reading, error) {
	dir, name, early, err := enterToRead(path)
	if dir == nil {
		return early, err
	}
	defer dir.Close()
	f := dir.Look(name)
	defer f.close()
	switch f.Kind {
	case KindFile:
		content, err := readAll(f.File)
		if errors.Is(err, errGrew) {
			return Reading{Kind: KindOversized, Path: path, Note: errGrew.Error()}, nil
		}
		sha := ""
		if err == nil {
			sum := sha256.Sum256(content)
			sha = hex.EncodeToString(sum[:])
		}
		return Reading{
			Kind:   KindFile,
			Path:   path,
			Mode:   fmt.Sprintf("%04o", f.Stat.Mode&0o7777),
			Owner:  OwnerName(f.Stat.Uid, f.Stat.Gid),
			MTime:  f.Stat.Mtim.Sec,
			SHA256: sha,
		}, nil
	case KindHardlink:
		return Reading{Kind: f.Kind, Path: path, Note: fmt.Sprintf("%d names", f.Stat.Nlink)}, nil
	case KindOversized:
		return Reading{Kind: f.Kind, Path: path, Note: TooLarge(f.Stat.Size)}, nil
	}
	return Reading{Kind: f.Kind, Path: path}, nil
}

// Cat is the content of path: a regular file with one name, within the limit, or an error saying
// what is there instead.
func Cat(path string) ([]byte, error) {
	dirPath, name, err := SplitPath(path)
	if err != nil {
		return nil, err
	}
	dir, err := Enter(dirPath, nil)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return nil, fmt.Errorf("%s: not read: %s", path, refusal.Reason)
	}
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	f := dir.Look(name)
	defer f.close()
	switch f.Kind {
	case KindFile:
	case KindOversized:
		return nil, fmt.Errorf("%s: not read: %s", path, TooLarge(f.Stat.Size))
	default:
		return nil, fmt.Errorf("%s: not read: it is %s", path, f.Kind)
	}
	content, err := readAll(f.File)
	if err != nil {
		return nil, fmt.Errorf("%s: not read: %s", path, err)
	}
	return content, nil
}
