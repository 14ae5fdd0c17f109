package fsafe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RemoveTree (remove-firewall's state directory) removes what is in the tree, links included, and
// nothing a link inside points to; it removes only a directory nobody but root can change.
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
