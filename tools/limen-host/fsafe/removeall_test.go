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
func TestRemoveAllRemovesATreeAndNoLinkTarget(t *testing.T) {
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

	must(t, RemoveAll(tree))
	if _, err := os.Lstat(tree); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tree is still there: %v", err)
	}
	if content, err := os.ReadFile(filepath.Join(outside, "kept")); err != nil || string(content) != "root's own\n" {
		t.Errorf("a link's target went: %q %v", content, err)
	}
	// A file, a missing path and a missing directory on the way.
	write(t, filepath.Join(root, "pending-limen"), "x\n", 0o600)
	must(t, RemoveAll(filepath.Join(root, "pending-limen")))
	must(t, RemoveAll(filepath.Join(root, "none")))
	must(t, RemoveAll(filepath.Join(root, "none", "deeper")))
	// Not in a directory of the app user's.
	app := appDir(t, root)
	must(t, os.Mkdir(filepath.Join(app, "copy"), 0o755))
	if err := RemoveAll(filepath.Join(app, "copy")); err == nil || !strings.Contains(err.Error(), "not removed") {
		t.Errorf("in the app user's directory: %v", err)
	}
}
