package fsafe

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// RootDir checks that dir is a directory nobody but root (or the user running this) can change, nor
// anything on the way to it; with createMode, missing directories are created first (see Enter).
// Plain file operations in dir are safe after that: nobody else can swap what they act on.
func RootDir(dir string, createMode *uint32) error {
	d, err := Enter(dir, createMode)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return fmt.Errorf("%s: %s", dir, refusal.Reason)
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if !d.EntryGuarded || !d.Closed() {
		why := d.Why
		if why == "" {
			why = "it can be changed by " + d.Others()
		}
		return fmt.Errorf("%s: %s; root does not act in it", dir, why)
	}
	return nil
}

var commandName = regexp.MustCompile(`^[A-Za-z0-9._+-]+$`)

// Command is the real path of the program root runs as name from the directories of pathList (a
// PATH), when it is trusted: a root-owned regular file nobody else may write, and every directory on
// its real path one nobody but root can change (a link into the app user's home, such as a version
// manager's node, is refused). found is false when no directory of the list has it.
func Command(name, pathList string) (real string, found bool, err error) {
	if !commandName.MatchString(name) {
		return "", false, fmt.Errorf("command: '%s' is not a plain command name", name)
	}
	for _, dir := range strings.Split(pathList, ":") {
		if !strings.HasPrefix(dir, "/") {
			continue
		}
		candidate := strings.TrimRight(dir, "/") + "/" + name
		var st unix.Stat_t
		if unix.Stat(candidate, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || unix.Access(candidate, unix.X_OK) != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(candidate)
		if err != nil {
			return "", false, fmt.Errorf("%s: cannot resolve its real path: %s", candidate, strerror(err))
		}
		return real, true, checkCommand(dir+"/"+name, real)
	}
	return "", false, nil
}

func checkCommand(asked, real string) error {
	via := real
	if real != asked {
		via = fmt.Sprintf("%s (really %s)", asked, real)
	}
	realDir, file, err := SplitPath(real)
	if err != nil {
		return err
	}
	d, err := Enter(realDir, nil)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return fmt.Errorf("%s: %s: root does not run it", via, refusal.Reason)
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if !d.EntryGuarded || !d.Closed() {
		return fmt.Errorf("%s: %s: root does not run it", via, d.whoCanChange(realDir))
	}
	var st unix.Stat_t
	if unix.Fstatat(d.fd, file, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s: not a regular file root can trust: root does not run it", via)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s is owned by user %s: root does not run it", via, UserName(st.Uid))
	}
	if st.Mode&unix.S_IWOTH != 0 || (st.Mode&unix.S_IWGRP != 0 && st.Gid != 0) {
		who := "group " + GroupName(st.Gid)
		if st.Mode&unix.S_IWOTH != 0 {
			who = "everyone"
		}
		return fmt.Errorf("%s can be changed by %s (mode %04o): root does not run it", via, who, st.Mode&0o7777)
	}
	return nil
}

// PathDirs checks root's PATH before root runs anything from it: each directory of dirs (a PATH's
// entries) is one nobody but root can change, or, when missing, could only be created by root (the
// nearest existing directory above it is judged); then each of commands found on pathList must be
// trusted (Command). It returns the real path of each command found.
func PathDirs(dirs []string, commands []string, pathList string) (map[string]string, error) {
	for _, dir := range dirs {
		if !strings.HasPrefix(dir, "/") {
			continue
		}
		if trimmed := strings.TrimRight(dir, "/"); trimmed != "" {
			dir = trimmed
		}
		for {
			d, err := Enter(dir, nil)
			var refusal *Refusal
			if errors.As(err, &refusal) && refusal.Missing && dir != "/" {
				// A PATH entry that does not exist: whoever can create it decides what root runs.
				dir, _, _ = SplitPath(dir)
				continue
			}
			why := ""
			switch {
			case refusal != nil:
				why = refusal.Reason
			case err != nil:
				return nil, err
			default:
				if !d.EntryGuarded || !d.Closed() {
					why = d.Why
					if why == "" {
						why = "it can be changed by " + d.Others()
					}
				}
				d.Close()
			}
			if why != "" {
				return nil, fmt.Errorf("%s is on root's PATH, and %s: root runs what is there, so the host tool stops", dir, why)
			}
			break
		}
	}
	paths := map[string]string{}
	for _, name := range commands {
		real, found, err := Command(name, pathList)
		if err != nil {
			return nil, err
		}
		if found {
			paths[name] = real
		}
	}
	return paths, nil
}
