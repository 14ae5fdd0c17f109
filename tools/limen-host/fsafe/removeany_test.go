package fsafe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemoveAnyRemovesTheNameAndWhatIsUnderItOnly(t *testing.T) {
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
		must(t, RemoveAny(path))
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
	if err := RemoveAny(filepath.Join(shared, "f")); err == nil || !strings.Contains(err.Error(), "not removed") {
		t.Errorf("a file in nobody's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(shared, "f")); err != nil {
		t.Errorf("the file in nobody's directory went: %v", err)
	}
}
