// Package fsafe is root's file access on a host, never through a path another user can change: the
// Go port of limen-file, the Perl program in files/limen-host.sh, with its trust rules unchanged.
//
// Every operation walks to its directory one component at a time from a descriptor of "/", each
// component opened with openat(O_PATH|O_DIRECTORY|O_NOFOLLOW) relative to the one before and checked
// against what fstatat saw, so a component swapped between the two steps is caught. A symbolic link
// on the way is followed only where nobody but root (or the user running this) could have placed it.
// The file itself is opened with O_NOFOLLOW and O_NONBLOCK and judged by fstat on that descriptor: a
// link, a FIFO or a device at its name is reported as what it is, never read through and never
// waited on. Nothing is changed through a path: a new file is created with O_EXCL beside its target,
// given its mode and owner on its descriptor, and renamed over the old name.
package fsafe

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// trusted: the users whose changes root may follow, root and the user running this (the app user,
// when the host tool hands a file in the app user's own directory over to that user).
func trusted(uid uint32) bool {
	return uid == 0 || uid == uint32(unix.Geteuid())
}

// guardsEntries: whether only trusted users can rename or replace the entries of a directory: one of
// them owns it and neither others nor its group (unless root's) may write it, or it is sticky (then
// an entry's owner alone can).
func guardsEntries(st *unix.Stat_t) bool {
	return trusted(st.Uid) && (st.Mode&unix.S_ISVTX != 0 || closed(st))
}

// closed: whether only its (trusted) owner can change a directory's entries at all: no sticky exception.
func closed(st *unix.Stat_t) bool {
	return trusted(st.Uid) && st.Mode&unix.S_IWOTH == 0 && (st.Mode&unix.S_IWGRP == 0 || st.Gid == 0)
}

// others: who besides the trusted users can change a directory, in words.
func others(st *unix.Stat_t) string {
	if !trusted(st.Uid) {
		return "user " + UserName(st.Uid)
	}
	if st.Mode&unix.S_IWOTH != 0 {
		return fmt.Sprintf("everyone (mode %04o)", st.Mode&0o7777)
	}
	return "group " + GroupName(st.Gid)
}

var names = struct {
	sync.Mutex
	users, groups map[uint32]string
}{users: map[uint32]string{}, groups: map[uint32]string{}}

// UserName is the name of uid in the host's user database, or the number when it has none. (Built
// without cgo, os/user reads /etc/passwd and /etc/group itself: the hosts' users are local ones.)
func UserName(uid uint32) string {
	names.Lock()
	defer names.Unlock()
	if name, ok := names.users[uid]; ok {
		return name
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	names.users[uid] = name
	return name
}

// GroupName is the name of gid, or the number when it has none.
func GroupName(gid uint32) string {
	names.Lock()
	defer names.Unlock()
	if name, ok := names.groups[gid]; ok {
		return name
	}
	name := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	names.groups[gid] = name
	return name
}

// OwnerName is `user:group` as limen-file's read prints a file's owner.
func OwnerName(uid, gid uint32) string {
	return UserName(uid) + ":" + GroupName(gid)
}

// strerror is an errno as Perl's $! (the C library's words) says it: "Permission denied".
func strerror(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	text := err.Error()
	if text == "" || text[0] < 'a' || text[0] > 'z' {
		return text
	}
	return strings.ToUpper(text[:1]) + text[1:]
}
