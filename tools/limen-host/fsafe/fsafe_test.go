package fsafe

// The walk and the file access against a real tree: links, FIFOs, sockets, devices, hard links,
// sparse files of terabytes, and directories of nobody (the app user's stand-in, as in the project's
// tests of the bash tool: test/support/app-user.ts). Root only: the trust rules are about what root
// does, and the tree needs chown and mknod.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var nobody struct {
	uid, gid    int
	user, group string
}

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("skipping fsafe's tests: they run as root (chown to nobody, mknod), as the host tool does; run `go test ./...` as root")
		os.Exit(0)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		fmt.Println("fsafe's tests need the user nobody:", err)
		os.Exit(1)
	}
	nobody.uid, _ = strconv.Atoi(u.Uid)
	nobody.gid, _ = strconv.Atoi(u.Gid)
	nobody.user = u.Username
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		fmt.Println("fsafe's tests need nobody's group:", err)
		os.Exit(1)
	}
	nobody.group = g.Name
	os.Exit(m.Run())
}

// rootTree is a directory of root's, 0755, that nobody but root can change, with nothing writable by
// others on the way to it (t.TempDir is under the sticky /tmp, or TMPDIR).
func rootTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	real, err := filepath.EvalSymlinks(dir)
	must(t, err)
	if _, err := Enter(real, nil); err != nil {
		t.Skipf("the temporary directory %s cannot be judged as root's own (%v): set TMPDIR to a root-only directory", real, err)
	}
	return real
}

// appDir is a directory of nobody's in root's tree, as the app's directory is.
func appDir(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "app")
	must(t, os.Mkdir(dir, 0o755))
	must(t, os.Chown(dir, nobody.uid, nobody.gid))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), mode))
	must(t, os.Chmod(path, mode))
}

func sha(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

func refusal(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal, got %v", err)
	}
	return r
}

func TestEnterJudgesEveryDirectoryOnTheWay(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	must(t, os.Mkdir(filepath.Join(app, "sub"), 0o755))

	d, err := Enter(root, nil)
	must(t, err)
	if !d.EntryGuarded || d.Why != "" || !d.Closed() {
		t.Errorf("root's own directory: guarded %v, why %q, closed %v", d.EntryGuarded, d.Why, d.Closed())
	}
	d.Close()

	// The app user's directory: its entry is root's to change, its entries the app user's.
	d, err = Enter(app, nil)
	must(t, err)
	if want := app + " can be changed by user " + nobody.user; !d.EntryGuarded || d.Why != want || d.Closed() {
		t.Errorf("the app's directory: guarded %v, why %q (want %q), closed %v", d.EntryGuarded, d.Why, want, d.Closed())
	}
	d.Close()

	// Below it, the app user could have replaced anything.
	d, err = Enter(filepath.Join(app, "sub"), nil)
	must(t, err)
	if d.EntryGuarded {
		t.Error("a directory inside the app user's directory is judged guarded")
	}
	d.Close()

	_, err = Enter(filepath.Join(root, "none", "deeper"), nil)
	if r := refusal(t, err); !r.Missing || r.Reason != root+"/none is missing" {
		t.Errorf("missing: %+v", r)
	}
	write(t, filepath.Join(root, "file"), "x", 0o644)
	_, err = Enter(filepath.Join(root, "file"), nil)
	if r := refusal(t, err); r.Missing || r.Reason != root+"/file is not a directory" {
		t.Errorf("a file on the way: %+v", r)
	}
	if _, err := Enter("relative/dir", nil); err == nil || err.Error() != "relative/dir is not an absolute path" {
		t.Errorf("a relative path: %v", err)
	}
}

func TestEnterFollowsOnlyLinksNobodyElseCouldHavePlaced(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	target := filepath.Join(root, "etc")
	must(t, os.Mkdir(target, 0o755))

	// Root's links in root's directories: followed, relative and absolute, with ".." on the way.
	must(t, os.Symlink("etc", filepath.Join(root, "relative")))
	must(t, os.Symlink(target, filepath.Join(root, "absolute")))
	must(t, os.Symlink("../"+filepath.Base(root)+"/etc", filepath.Join(root, "up-and-back")))
	for _, via := range []string{"relative", "absolute", "up-and-back", "etc/../etc/."} {
		d, err := Enter(filepath.Join(root, via), nil)
		if err != nil {
			t.Errorf("%s: %v", via, err)
			continue
		}
		var want unix.Stat_t
		must(t, unix.Stat(target, &want))
		if d.Stat.Ino != want.Ino || !d.EntryGuarded {
			t.Errorf("%s: reached inode %d (want %d), guarded %v", via, d.Stat.Ino, want.Ino, d.EntryGuarded)
		}
		d.Close()
	}

	// The app user's link in its own directory: never followed.
	must(t, os.Symlink(target, filepath.Join(app, "conf")))
	must(t, os.Lchown(filepath.Join(app, "conf"), nobody.uid, nobody.gid))
	_, err := Enter(filepath.Join(app, "conf"), nil)
	want := fmt.Sprintf("%s/conf is a symbolic link that another user could have placed (%s can be changed by user %s): not followed", app, app, nobody.user)
	if r := refusal(t, err); r.Reason != want {
		t.Errorf("got %q, want %q", r.Reason, want)
	}

	// A link of the app user's in a directory only root can change: not followed either.
	must(t, os.Symlink(target, filepath.Join(root, "theirs")))
	must(t, os.Lchown(filepath.Join(root, "theirs"), nobody.uid, nobody.gid))
	_, err = Enter(filepath.Join(root, "theirs"), nil)
	if r := refusal(t, err); r.Reason != fmt.Sprintf("%s/theirs is a symbolic link owned by user %s: not followed", root, nobody.user) {
		t.Errorf("got %q", r.Reason)
	}

	// A loop of root's own links ends.
	must(t, os.Symlink("loop-b", filepath.Join(root, "loop-a")))
	must(t, os.Symlink("loop-a", filepath.Join(root, "loop-b")))
	if _, err := Enter(filepath.Join(root, "loop-a"), nil); err == nil || !strings.Contains(err.Error(), "too many symbolic links on the way to") {
		t.Errorf("a loop: %v", err)
	}
}

func TestEnterCreatesOnlyWhereNobodyElseCouldHaveChangedTheWay(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	mode := uint32(0o700)
	d, err := Enter(filepath.Join(root, "limen", "firewall"), &mode)
	must(t, err)
	d.Close()
	for dir, want := range map[string]uint32{filepath.Join(root, "limen"): 0o755, filepath.Join(root, "limen", "firewall"): 0o700} {
		var st unix.Stat_t
		must(t, unix.Stat(dir, &st))
		if st.Mode&0o7777 != want || st.Uid != 0 {
			t.Errorf("%s: mode %04o uid %d, want %04o root's, whatever the umask", dir, st.Mode&0o7777, st.Uid, want)
		}
	}
	// In the app user's directory nothing is created.
	_, err = Enter(filepath.Join(app, "made"), &mode)
	if r := refusal(t, err); !r.Missing {
		t.Errorf("created in the app user's directory: %+v", r)
	}

	// Another step of the same deploy creating the same directory in the same instant.
	defer func(hook func(int, string, uint32) error) { mkdirHook = hook }(mkdirHook)
	mkdirHook = func(dirfd int, name string, mode uint32) error {
		unix.Mkdirat(dirfd, name, mode)
		return unix.Mkdirat(dirfd, name, mode)
	}
	d, err = Enter(filepath.Join(root, "tls", "limen"), &mode)
	must(t, err)
	d.Close()
}

func TestReadSaysWhatIsThereWithoutFollowingOrWaiting(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	canary := filepath.Join(root, "canary")
	write(t, canary, "root's own\n", 0o600)
	at := func(name string) string { return filepath.Join(app, name) }

	write(t, at("env"), "A=1\n", 0o600)
	must(t, os.Chown(at("env"), nobody.uid, nobody.gid))
	must(t, os.Symlink(canary, at("link")))
	must(t, unix.Mkfifo(at("fifo"), 0o600))
	must(t, os.Link(canary, at("second-name")))
	must(t, os.Mkdir(at("dir"), 0o755))
	must(t, unix.Mknod(at("device"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))))
	listener, err := net.Listen("unix", at("socket"))
	must(t, err)
	defer listener.Close()
	sparse := func(name string, size int64) {
		f, err := os.Create(at(name))
		must(t, err)
		must(t, f.Truncate(size))
		f.Close()
	}
	sparse("8TiB", 8<<40)
	sparse("at-limit", MaxFileBytes)
	sparse("above-limit", MaxFileBytes+1)

	var st unix.Stat_t
	must(t, unix.Stat(at("env"), &st))
	cases := []struct {
		name string
		want Reading
	}{
		{"env", Reading{Kind: KindFile, Mode: "0600", Owner: nobody.user + ":" + nobody.group, MTime: st.Mtim.Sec, SHA256: sha("A=1\n")}},
		{"link", Reading{Kind: KindSymlink}},
		{"fifo", Reading{Kind: KindFIFO}},
		{"second-name", Reading{Kind: KindHardlink, Note: "2 names"}},
		{"dir", Reading{Kind: KindDirectory}},
		{"device", Reading{Kind: KindDevice}},
		{"socket", Reading{Kind: KindSocket}},
		{"none", Reading{Kind: KindMissing}},
		{"8TiB", Reading{Kind: KindOversized, Note: "8796093022208 bytes, above the limit of 1048576 bytes for a file root reads"}},
		{"above-limit", Reading{Kind: KindOversized, Note: "1048577 bytes, above the limit of 1048576 bytes for a file root reads"}},
	}
	for _, c := range cases {
		done := make(chan struct{})
		var got Reading
		go func() {
			defer close(done)
			got, err = Read(at(c.name))
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the read waited", c.name)
		}
		must(t, err)
		c.want.Path = at(c.name)
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	if got, err := Read(at("at-limit")); err != nil || got.Kind != KindFile || got.SHA256 != sha(strings.Repeat("\x00", MaxFileBytes)) {
		t.Errorf("a file of exactly the limit: %+v %v", got, err)
	}

	// The line the probes parse (hostio/limen-file.ts).
	if line := (Reading{Kind: KindFIFO, Path: "/x"}).Line(); line != "fifo\t-\t-\t-\t-\t/x\t" {
		t.Errorf("line %q", line)
	}

	// Behind the app user's link to root's directory: not read.
	must(t, os.Symlink(root, at("up")))
	must(t, os.Lchown(at("up"), nobody.uid, nobody.gid))
	got, err := Read(filepath.Join(app, "up", "canary"))
	must(t, err)
	if got.Kind != KindUnsafe || !strings.HasPrefix(got.Note, app+"/up is a symbolic link that another user could have placed") {
		t.Errorf("behind a link: %+v", got)
	}
}

func TestCatReadsOnlyARegularFileWithOneName(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	write(t, filepath.Join(app, "env"), "A=1\nB=2", 0o600)
	content, err := Cat(filepath.Join(app, "env"))
	if err != nil || string(content) != "A=1\nB=2" {
		t.Errorf("cat: %q %v", content, err)
	}
	must(t, unix.Mkfifo(filepath.Join(app, "fifo"), 0o600))
	must(t, os.Symlink("/etc/shadow", filepath.Join(app, "link")))
	f, err := os.Create(filepath.Join(app, "big"))
	must(t, err)
	must(t, f.Truncate(8<<40))
	f.Close()
	for name, want := range map[string]string{
		"fifo": "it is fifo",
		"link": "it is symlink",
		"big":  "8796093022208 bytes, above the limit of 1048576 bytes for a file root reads",
	} {
		path := filepath.Join(app, name)
		if _, err := Cat(path); err == nil || err.Error() != path+": not read: "+want {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReplaceWritesBesideAndRenames(t *testing.T) {
	root := rootTree(t)
	target := filepath.Join(root, "new", "limen.conf")
	written, err := Replace(target, "0640", "root:root", []byte("A=1\n"))
	must(t, err)
	if written.Line() != "installed "+target {
		t.Errorf("first: %q", written.Line())
	}
	entries, _ := os.ReadDir(filepath.Dir(target))
	if len(entries) != 1 {
		t.Errorf("left beside the file: %v", entries)
	}
	var before unix.Stat_t
	must(t, unix.Stat(target, &before))
	if before.Mode&0o7777 != 0o640 {
		t.Errorf("mode %04o", before.Mode&0o7777)
	}
	written, err = Replace(target, "0640", "root:root", []byte("A=1\n"))
	must(t, err)
	if written.Outcome != "unchanged" {
		t.Errorf("same content: %+v", written)
	}
	written, err = Replace(target, "0600", fmt.Sprintf("%s:%s", nobody.user, nobody.group), []byte("A=1\n"))
	must(t, err)
	var after unix.Stat_t
	must(t, unix.Stat(target, &after))
	if written.Line() != "fixed mode and owner of "+target || after.Ino != before.Ino || after.Mtim != before.Mtim || after.Uid != uint32(nobody.uid) {
		t.Errorf("same content, another mode and owner: %q, inode %d→%d", written.Line(), before.Ino, after.Ino)
	}

	if _, err := Replace(target, "0640", "root:root", make([]byte, MaxFileBytes+1)); err == nil ||
		err.Error() != target+": not written: the new content is 1048577 bytes, above the limit of 1048576 bytes for a file root reads" {
		t.Errorf("too large: %v", err)
	}
	must(t, os.Mkdir(filepath.Join(root, "new", "dir"), 0o755))
	if _, err := Replace(filepath.Join(root, "new", "dir"), "0640", "root:root", nil); err == nil || !strings.Contains(err.Error(), "a directory is in the way") {
		t.Errorf("a directory: %v", err)
	}
	for _, bad := range [][2]string{{"640x", "root:root"}, {"0640", "root"}, {"0640", "no-such-user:root"}} {
		if _, err := Replace(target, bad[0], bad[1], nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestReplaceReplacesWhatTheAppUserPlantedAtTheName(t *testing.T) {
	root := rootTree(t)
	canary := filepath.Join(root, "canary")
	write(t, canary, "root's own\n", 0o600)
	dir := filepath.Join(root, "etc")
	must(t, os.Mkdir(dir, 0o755))
	target := filepath.Join(dir, "x.conf")
	plants := map[string]func(){
		"a symbolic link":                        func() { must(t, os.Symlink(canary, target)) },
		"a FIFO":                                 func() { must(t, unix.Mkfifo(target, 0o600)) },
		"a hard link to a file with other names": func() { must(t, os.Link(canary, target)) },
	}
	for said, plant := range plants {
		os.Remove(target)
		plant()
		written, err := Replace(target, "0644", "root:root", []byte("new\n"))
		must(t, err)
		if want := fmt.Sprintf("installed %s (replaced %s that was there)", target, said); written.Line() != want {
			t.Errorf("got %q, want %q", written.Line(), want)
		}
		if content, _ := os.ReadFile(canary); string(content) != "root's own\n" {
			t.Fatalf("the canary was written through %s", said)
		}
	}
}

func TestReplaceInTheAppUsersDirectory(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	owner := nobody.user + ":" + nobody.group
	// The app's own file: handed over to the app user (who runs the same Replace).
	_, err := Replace(filepath.Join(app, ".env.production"), "0600", owner, []byte("A=1\n"))
	var handover *Handover
	if !errors.As(err, &handover) || handover.UID != uint32(nobody.uid) {
		t.Errorf("the app's file: %v", err)
	}
	// A file of root's: refused, naming the directory and its owner.
	_, err = Replace(filepath.Join(app, "ecosystem.config.js"), "0644", "root:root", []byte("x"))
	if want := fmt.Sprintf("%s/ecosystem.config.js: not written: %s can be changed by user %s", app, app, nobody.user); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	// Group-writable by a group other than root's.
	group := filepath.Join(root, "grp")
	must(t, os.Mkdir(group, 0o775))
	must(t, os.Chmod(group, 0o775))
	must(t, os.Chown(group, 0, nobody.gid))
	_, err = Replace(filepath.Join(group, "x.conf"), "0644", "root:root", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), group+" can be changed by group "+nobody.group) {
		t.Errorf("group-writable: %v", err)
	}
	// Sticky and world-writable on the way (a /tmp of its own), with a directory of root's in it: fine.
	sticky := filepath.Join(root, "sticky")
	must(t, os.Mkdir(sticky, 0o755))
	must(t, unix.Chmod(sticky, 0o1777))
	must(t, os.Mkdir(filepath.Join(sticky, "sub"), 0o755))
	if _, err := Replace(filepath.Join(sticky, "sub", "x.conf"), "0644", "root:root", []byte("x\n")); err != nil {
		t.Errorf("under a sticky directory: %v", err)
	}
	// Directly in it: anyone can add entries there.
	_, err = Replace(filepath.Join(sticky, "x.conf"), "0644", "root:root", []byte("x\n"))
	if err == nil || !strings.Contains(err.Error(), "can be changed by everyone (mode 1777)") {
		t.Errorf("in a sticky directory: %v", err)
	}
}

func TestReplaceRaceAroundTheRename(t *testing.T) {
	// The ordering a watcher in the app user's directory hits rarely, made certain: the new file is
	// removed just before the rename and a link to the canary appears at its name just after.
	root := rootTree(t)
	canary := filepath.Join(root, "canary")
	write(t, canary, "root's own\n", 0o600)
	dir := filepath.Join(root, "etc")
	must(t, os.Mkdir(dir, 0o755))
	target := filepath.Join(dir, ".env.production")
	defer func(hook func(int, string, string) error) { renameHook = hook }(renameHook)
	renameHook = func(dirfd int, from, to string) error {
		unix.Unlinkat(dirfd, from, 0)
		err := unix.Renameat(dirfd, from, dirfd, to)
		unix.Symlinkat(canary, dirfd, from)
		return err
	}
	_, err := Replace(target, "0600", "root:root", []byte("A=1\n"))
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("entries: %v (%v)", entries, err)
	}
	want := fmt.Sprintf("%s: the new file %s/%s was removed before it could be renamed into place: something is changing %s during the install", target, dir, entries[0].Name(), dir)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// What stands at the temporary name is left alone, neither removed nor followed.
	if entries[0].Type()&os.ModeSymlink == 0 {
		t.Errorf("the link at the temporary name was removed")
	}
	if content, _ := os.ReadFile(canary); string(content) != "root's own\n" {
		t.Errorf("the canary was written")
	}

	// The link lands at the name itself right after the rename.
	renameHook = func(dirfd int, from, to string) error {
		err := unix.Renameat(dirfd, from, dirfd, to)
		unix.Unlinkat(dirfd, to, 0)
		unix.Symlinkat(canary, dirfd, to)
		return err
	}
	_, err = Replace(target, "0600", "root:root", []byte("A=2\n"))
	want = fmt.Sprintf("%s: right after the rename, %s is a symbolic link, not the file just written: something is changing %s during the install", target, target, dir)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestRemoveUnlinksTheNameOnly(t *testing.T) {
	root := rootTree(t)
	canary := filepath.Join(root, "canary")
	write(t, canary, "root's own\n", 0o600)
	link := filepath.Join(root, "link")
	must(t, os.Symlink(canary, link))
	must(t, Remove(link))
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Error("the link is still there")
	}
	if _, err := os.Stat(canary); err != nil {
		t.Error("the link's target went too")
	}
	must(t, Remove(filepath.Join(root, "none", "x")))
	must(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	if err := Remove(filepath.Join(root, "dir")); err == nil || !strings.Contains(err.Error(), "a directory is in the way") {
		t.Errorf("a directory: %v", err)
	}
	sub := filepath.Join(root, "empty")
	must(t, os.Mkdir(sub, 0o755))
	if removed, err := RemoveEmptyDir(sub); !removed || err != nil {
		t.Errorf("empty: %v %v", removed, err)
	}
	if removed, err := RemoveEmptyDir(root); removed || err != nil {
		t.Errorf("not empty: %v %v", removed, err)
	}
}

func TestRootDir(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	if err := RootDir(app, nil); err == nil || err.Error() != fmt.Sprintf("%s: %s can be changed by user %s; root does not act in it", app, app, nobody.user) {
		t.Errorf("the app's directory: %v", err)
	}
	mode := uint32(0o700)
	must(t, RootDir(filepath.Join(root, "state"), &mode))
}

func TestCommandRunsOnlyWhatNobodyElseCanChange(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	bin := filepath.Join(root, "bin")
	must(t, os.Mkdir(bin, 0o755))

	// A link into the app user's directory (a version manager's node).
	appNode := filepath.Join(app, "node")
	write(t, appNode, "#!/bin/sh\n", 0o755)
	must(t, os.Chown(appNode, nobody.uid, nobody.gid))
	must(t, os.Symlink(appNode, filepath.Join(bin, "node")))
	_, _, err := Command("node", bin)
	if want := fmt.Sprintf("%s/node (really %s): %s can be changed by user %s: root does not run it", bin, appNode, app, nobody.user); err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// A program the app user owns, in root's directory.
	write(t, filepath.Join(bin, "nft"), "#!/bin/sh\n", 0o755)
	must(t, os.Chown(filepath.Join(bin, "nft"), nobody.uid, nobody.gid))
	if _, _, err := Command("nft", bin); err == nil || err.Error() != fmt.Sprintf("%s/nft is owned by user %s: root does not run it", bin, nobody.user) {
		t.Errorf("owned by nobody: %v", err)
	}
	// Group-writable by the app user's group.
	write(t, filepath.Join(bin, "pm2"), "#!/bin/sh\n", 0o775)
	must(t, os.Chown(filepath.Join(bin, "pm2"), 0, nobody.gid))
	if _, _, err := Command("pm2", bin); err == nil || err.Error() != fmt.Sprintf("%s/pm2 can be changed by group %s (mode 0775): root does not run it", bin, nobody.group) {
		t.Errorf("group-writable: %v", err)
	}
	// Root's own, found through a link of root's: its real path.
	write(t, filepath.Join(root, "real-docker"), "#!/bin/sh\n", 0o755)
	must(t, os.Symlink(filepath.Join(root, "real-docker"), filepath.Join(bin, "docker")))
	if real, found, err := Command("docker", "relative:"+bin); err != nil || !found || real != filepath.Join(root, "real-docker") {
		t.Errorf("root's own: %q %v %v", real, found, err)
	}
	if _, found, err := Command("certbot", bin); found || err != nil {
		t.Errorf("not installed: %v %v", found, err)
	}
	if _, _, err := Command("../bin/sh", bin); err == nil {
		t.Error("a path was taken as a command name")
	}
}

func TestPathDirsJudgesEveryEntryAndMissingOnesByWhoCouldCreateThem(t *testing.T) {
	root := rootTree(t)
	app := appDir(t, root)
	want := fmt.Sprintf("%s is on root's PATH, and %s can be changed by user %s: root runs what is there, so the host tool stops", app, app, nobody.user)
	for _, entry := range []string{app, filepath.Join(app, "bin", "deeper")} {
		if _, err := PathDirs([]string{"/usr/bin", entry}, nil, ""); err == nil || err.Error() != want {
			t.Errorf("%s: got %v\nwant %s", entry, err, want)
		}
	}
	if _, err := PathDirs([]string{root, filepath.Join(root, "missing"), "relative"}, nil, ""); err != nil {
		t.Errorf("root's own: %v", err)
	}
	write(t, filepath.Join(root, "nft"), "#!/bin/sh\n", 0o755)
	paths, err := PathDirs([]string{root}, []string{"nft", "certbot"}, root)
	if err != nil || paths["nft"] != filepath.Join(root, "nft") || len(paths) != 1 {
		t.Errorf("commands: %v %v", paths, err)
	}
}
