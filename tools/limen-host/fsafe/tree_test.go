package fsafe

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// certbot's layout: live/NAME/*.pem are root's links into archive/NAME/, followed because nobody
// else could have placed them; the same link in a directory nobody may write is not.
func TestReadFollowingFollowsOnlyLinksNobodyElseCouldHavePlaced(t *testing.T) {
	root := rootTree(t)
	must(t, os.MkdirAll(filepath.Join(root, "archive", "limen"), 0o700))
	must(t, os.MkdirAll(filepath.Join(root, "live", "limen"), 0o755))
	write(t, filepath.Join(root, "archive", "limen", "privkey1.pem"), "KEY", 0o600)
	must(t, os.Symlink("../../archive/limen/privkey1.pem", filepath.Join(root, "live", "limen", "privkey.pem")))
	content, mode, err := ReadFollowing(filepath.Join(root, "live", "limen", "privkey.pem"))
	if err != nil || string(content) != "KEY" || mode != 0o600 {
		t.Fatalf("root's link: %q %o %v", content, mode, err)
	}

	open := appDir(t, root)
	must(t, os.Symlink(filepath.Join(root, "archive", "limen", "privkey1.pem"), filepath.Join(open, "privkey.pem")))
	_, _, err = ReadFollowing(filepath.Join(open, "privkey.pem"))
	var notRead *NotRead
	if !errors.As(err, &notRead) || notRead.Kind != KindUnsafe {
		t.Errorf("a link in nobody's directory: %v", err)
	}

	must(t, syscall.Mkfifo(filepath.Join(root, "live", "limen", "fifo.pem"), 0o644))
	if _, _, err := ReadFollowing(filepath.Join(root, "live", "limen", "fifo.pem")); !errors.As(err, &notRead) || notRead.Kind != KindFIFO {
		t.Errorf("a FIFO: %v", err)
	}
	if _, _, err := ReadFollowing(filepath.Join(root, "live", "none", "cert.pem")); !errors.As(err, &notRead) || notRead.Kind != KindMissing {
		t.Errorf("a missing directory: %v", err)
	}
}

// rm -rf relative to each directory's descriptor: a link inside is removed, never what it points to.
func TestRemoveTreeNeverFollowsALink(t *testing.T) {
	root := rootTree(t)
	outside := filepath.Join(root, "outside")
	must(t, os.Mkdir(outside, 0o755))
	write(t, filepath.Join(outside, "keep"), "x", 0o644)
	tree := filepath.Join(root, "tree", "v1", "deeper")
	must(t, os.MkdirAll(tree, 0o755))
	write(t, filepath.Join(tree, "file"), "x", 0o644)
	must(t, os.Symlink(outside, filepath.Join(root, "tree", "v1", "link")))
	d, err := OpenRootDir(root, nil)
	must(t, err)
	defer d.Close()
	must(t, d.RemoveTree("tree"))
	if _, err := os.Lstat(filepath.Join(root, "tree")); !os.IsNotExist(err) {
		t.Errorf("the tree stays: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("what the link pointed to went: %v", err)
	}
	must(t, d.RemoveTree("none"))
}

// A version directory and its files: exactly their modes whatever the umask, O_EXCL, and the link
// swapped over a stale `.current.new` left by a run that stopped.
func TestPublishingSteps(t *testing.T) {
	root := rootTree(t)
	d, err := OpenRootDir(root, nil)
	must(t, err)
	defer d.Close()
	v, err := d.MakeDir("v1", 0o755)
	must(t, err)
	must(t, v.CreateFile("privkey.pem", 0o600, []byte("KEY")))
	if err := v.CreateFile("privkey.pem", 0o600, []byte("OTHER")); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("a second create of the same name: %v", err)
	}
	v.Close()
	if _, err := d.MakeDir("v1", 0o755); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("a second version of the same name: %v", err)
	}
	for path, want := range map[string]os.FileMode{"v1": 0o755 | os.ModeDir, "v1/privkey.pem": 0o600} {
		if info, err := os.Stat(filepath.Join(root, path)); err != nil || info.Mode() != want {
			t.Errorf("%s: %v %v, want %v", path, info.Mode(), err, want)
		}
	}
	must(t, os.Symlink("elsewhere", filepath.Join(root, ".current.new")))
	must(t, d.SwapLink("current", "v1"))
	if target, err := os.Readlink(filepath.Join(root, "current")); err != nil || target != "v1" {
		t.Errorf("current -> %q %v", target, err)
	}
	if _, err := os.Lstat(filepath.Join(root, ".current.new")); !os.IsNotExist(err) {
		t.Errorf(".current.new stays: %v", err)
	}
	if !d.Exists("current") || d.Exists("none") {
		t.Error("Exists")
	}
	if _, err := OpenRootDir(appDir(t, root), nil); err == nil {
		t.Error("OpenRootDir took a directory of nobody's")
	}
}
