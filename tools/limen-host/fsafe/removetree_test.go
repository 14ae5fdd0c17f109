package fsafe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rm -rf of a copy an earlier version kept (pm2-remove, pm2-apply): everything under it goes, and a
// link inside goes as a link: what it points to stays, a directory included.
func TestRemoveTreeRemovesATreeAndNoLinkTarget(t *testing.T) {
	root := rootTree(t)
	outside := filepath.Join(root, "outside")
	must(t, os.Mkdir(outside, 0o755))
	write(t, filepath.Join(outside, "kept"), "root's own\n", 0o600)
	tree := filepath.Join(root, "good-limen")
	must(t, os.MkdirAll(filepath.Join(tree, "previous", "deeper"), 0o700))
	write(t, filepath.Join(tree, "previous", ".env.production"), "SECRET=1\n", 0o600)
	write(t, filepath.Join(tree, "previous", "deeper", "file"), "x\n", 0o600)
	must(t, os.Symlink(outside, filepath.Join(tree, "to-outside")))
	must(t, os.Symlink(filepath.Join(outside, "kept"), filepath.Join(tree, "previous", "to-file")))

	must(t, RemoveTree(tree))
	if _, err := os.Lstat(tree); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tree is still there: %v", err)
	}
	if content, err := os.ReadFile(filepath.Join(outside, "kept")); err != nil || string(content) != "root's own\n" {
		t.Errorf("a link's target went: %q %v", content, err)
	}
	// A file, a missing path and a missing directory on the way.
	write(t, filepath.Join(root, "pending-limen"), "x\n", 0o600)
	must(t, RemoveTree(filepath.Join(root, "pending-limen")))
	must(t, RemoveTree(filepath.Join(root, "none")))
	must(t, RemoveTree(filepath.Join(root, "none", "deeper")))
	// Not in a directory of the app user's.
	app := appDir(t, root)
	must(t, os.Mkdir(filepath.Join(app, "copy"), 0o755))
	if err := RemoveTree(filepath.Join(app, "copy")); err == nil || !strings.Contains(err.Error(), "not removed") {
		t.Errorf("in the app user's directory: %v", err)
	}
}

// remove-firewall's state directory: what is in the tree goes, links included, and nothing a link inside
// points to; only a directory nobody but root can change is emptied.
func TestRemoveTreeRemovesLinksNotWhatTheyPointTo(t *testing.T) {
	root := rootTree(t)
	canary := filepath.Join(root, "canary")
	write(t, canary, "root's own\n", 0o600)
	outside := filepath.Join(root, "outside")
	must(t, os.Mkdir(outside, 0o755))
	write(t, filepath.Join(outside, "keep"), "kept\n", 0o600)

	state := filepath.Join(root, "state")
	must(t, os.MkdirAll(filepath.Join(state, "deeper", "still"), 0o700))
	write(t, filepath.Join(state, "previous.nft"), "table inet t\n", 0o600)
	write(t, filepath.Join(state, "deeper", "still", "x"), "x\n", 0o600)
	must(t, os.Symlink(canary, filepath.Join(state, "to-file")))
	must(t, os.Symlink(outside, filepath.Join(state, "to-dir")))
	must(t, RemoveTree(state))
	if _, err := os.Lstat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state directory is still there: %v", err)
	}
	if content, err := os.ReadFile(canary); err != nil || string(content) != "root's own\n" {
		t.Errorf("the file a link inside pointed to: %q %v", content, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("the directory a link inside pointed to lost its file: %v", err)
	}
	must(t, RemoveTree(state))

	app := appDir(t, root)
	write(t, filepath.Join(app, "x"), "x\n", 0o600)
	if err := RemoveTree(app); err == nil || !strings.Contains(err.Error(), "can be changed by user "+nobody.user) {
		t.Errorf("a directory of the app user's: %v", err)
	}
	if _, err := os.Stat(filepath.Join(app, "x")); err != nil {
		t.Errorf("the app user's directory lost its file: %v", err)
	}
}

// envoy-forget's leftovers: a name and what is under it go, links as links; nothing else.
func TestRemoveTreeRemovesTheNameAndWhatIsUnderItOnly(t *testing.T) {
	root := rootTree(t)
	state := filepath.Join(root, "state")
	must(t, os.MkdirAll(filepath.Join(state, "admin", "c", "deeper"), 0o700))
	write(t, filepath.Join(state, "admin", "c", "deeper", "f"), "x", 0o600)
	write(t, filepath.Join(state, "c.yaml"), "x", 0o600)
	outside := filepath.Join(root, "outside")
	must(t, os.Mkdir(outside, 0o755))
	write(t, filepath.Join(outside, "kept"), "x", 0o600)
	// Links inside the tree and at the name: removed as links, what they point to stays.
	must(t, os.Symlink(outside, filepath.Join(state, "admin", "c", "link")))
	must(t, os.Symlink(outside, filepath.Join(state, "linked")))

	for _, path := range []string{filepath.Join(state, "admin"), filepath.Join(state, "c.yaml"), filepath.Join(state, "linked"), filepath.Join(state, "none")} {
		must(t, RemoveTree(path))
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", path, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "kept")); err != nil {
		t.Errorf("a link's target went: %v", err)
	}
	// In a directory another user can change, nothing is removed.
	shared := appDir(t, root)
	write(t, filepath.Join(shared, "f"), "x", 0o600)
	if err := RemoveTree(filepath.Join(shared, "f")); err == nil || !strings.Contains(err.Error(), "not removed") {
		t.Errorf("a file in nobody's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(shared, "f")); err != nil {
		t.Errorf("the file in nobody's directory went: %v", err)
	}
}
