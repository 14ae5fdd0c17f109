package main

// Root's file access (limen-file's commands), as requests: each a thin call into fsafe, whose walk
// and trust rules are the point. The read probes run these (with the host tool gone, the probes'
// own copy: README.md, "The probes").

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"limen-infra/tools/limen-host/fsafe"
)

// read: what is at each path (a file's mode, owner, mtime and content's sha256, or what is there instead).
type readRequest struct {
	common
	Paths []string `json:"paths" required:"true"`
}

func (r *readRequest) validate() error {
	if len(r.Paths) == 0 {
		return errors.New(`"paths" must list at least one path`)
	}
	return nil
}

type readResult struct {
	Readings []fsafe.Reading `json:"readings"`
}

func (r readResult) text(w io.Writer) error {
	for _, reading := range r.Readings {
		if _, err := fmt.Fprintln(w, reading.Line()); err != nil {
			return err
		}
	}
	return nil
}

func runRead(_ *call, req *readRequest) (readResult, error) {
	readings := make([]fsafe.Reading, 0, len(req.Paths))
	for _, path := range req.Paths {
		reading, err := fsafe.Read(path)
		if err != nil {
			return readResult{}, err
		}
		readings = append(readings, reading)
	}
	return readResult{Readings: readings}, nil
}

// cat: a regular file's content (one name, within the size limit), or an error naming what is there.
type catRequest struct {
	common
	Path string `json:"path" required:"true"`
}

func (r *catRequest) validate() error { return nil }

type catResult struct {
	Path    string `json:"path"`
	Content []byte `json:"contentBase64"`
}

func (r catResult) text(w io.Writer) error {
	_, err := w.Write(r.Content)
	return err
}

func runCat(_ *call, req *catRequest) (catResult, error) {
	content, err := fsafe.Cat(req.Path)
	return catResult{Path: req.Path, Content: content}, err
}

// replace: new content for a file, through a new file beside it renamed into place; in the directory
// of the file's own (non-root) owner, that owner writes it.
type replaceRequest struct {
	common
	Path string `json:"path" required:"true"`
	// Mode: octal, "0640".
	Mode string `json:"mode" required:"true"`
	// Owner: "user:group".
	Owner   string `json:"owner" required:"true"`
	Content []byte `json:"contentBase64" required:"true"`
}

func (r *replaceRequest) validate() error { return nil }

type writeResult struct{ fsafe.Written }

func (r writeResult) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, r.Line())
	return err
}

func runReplace(c *call, req *replaceRequest) (writeResult, error) {
	written, err := writeFile(c, req.Path, req.Mode, req.Owner, req.Content)
	return writeResult{written}, err
}

// writeFile is fsafe.Replace as root, or, for a file in its own owner's directory, as that owner.
func writeFile(c *call, path, mode, owner string, content []byte) (fsafe.Written, error) {
	written, err := fsafe.Replace(path, mode, owner, content)
	var handover *fsafe.Handover
	if errors.As(err, &handover) {
		return writeAsOwner(c, handover, &replaceRequest{Path: path, Mode: mode, Owner: owner, Content: content})
	}
	return written, err
}

// remove: unlinks a name (a link or a file; never what a link points to).
type removeRequest struct {
	common
	Path string `json:"path" required:"true"`
}

func (r *removeRequest) validate() error { return nil }

type removeResult struct {
	Path    string `json:"path"`
	Outcome string `json:"outcome"`
	// DaemonReload: systemd reloaded its unit files (remove-file of a unit).
	DaemonReload bool `json:"daemonReload,omitempty"`
	// RemovedDirs: directories under /etc/limen left empty and removed (remove-file).
	RemovedDirs []string `json:"removedDirs,omitempty"`
}

func (r removeResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "removed %s\n", r.Path)
	return err
}

func runRemove(_ *call, req *removeRequest) (removeResult, error) {
	if err := fsafe.Remove(req.Path); err != nil {
		return removeResult{}, err
	}
	return removeResult{Path: req.Path, Outcome: "removed"}, nil
}

// dir: a directory nobody but root can change, nor anything on the way (created first with create).
type dirRequest struct {
	common
	Dir string `json:"dir" required:"true"`
	// Create: the octal mode to create the directory with when it is missing ("0700"); the
	// directories above it are created 0755.
	Create string `json:"create,omitempty"`
}

func (r *dirRequest) validate() error {
	if r.Create != "" {
		if _, err := fsafe.Mode(r.Create); err != nil {
			return fmt.Errorf(`"create" must be an octal mode, got %q`, r.Create)
		}
	}
	return nil
}

type dirResult struct {
	Dir string `json:"dir"`
}

func (dirResult) text(io.Writer) error { return nil }

func runDir(_ *call, req *dirRequest) (dirResult, error) {
	var create *uint32
	if req.Create != "" {
		mode, _ := fsafe.Mode(req.Create)
		create = &mode
	}
	return dirResult{Dir: req.Dir}, fsafe.RootDir(req.Dir, create)
}

// path-dirs: root's PATH, checked before root runs anything from it (fsafe.PathDirs).
type pathDirsRequest struct {
	common
	Dirs     []string `json:"dirs" required:"true"`
	Commands []string `json:"commands,omitempty"`
}

func (r *pathDirsRequest) validate() error { return nil }

type pathDirsResult struct {
	// Commands: the real path of each command found, checked.
	Commands map[string]string `json:"commands"`
}

func (pathDirsResult) text(io.Writer) error { return nil }

func runPathDirs(_ *call, req *pathDirsRequest) (pathDirsResult, error) {
	path := os.Getenv("PATH")
	commands, err := fsafe.PathDirs(req.Dirs, req.Commands, path)
	return pathDirsResult{Commands: commands}, err
}

// command: the real path of the program root runs as name from PATH, when it is trusted; exit 2 when
// it is not installed.
type commandRequest struct {
	common
	Name string `json:"name" required:"true"`
}

func (r *commandRequest) validate() error { return nil }

type commandResult struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

func (r commandResult) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, r.Path)
	return err
}

func runCommand(_ *call, req *commandRequest) (commandResult, error) {
	real, found, err := fsafe.Command(req.Name, os.Getenv("PATH"))
	if err != nil {
		return commandResult{}, err
	}
	if !found {
		return commandResult{}, &exitError{status: 2, err: fmt.Errorf("%s is not installed on this host (not found on PATH)", req.Name)}
	}
	return commandResult{Name: req.Name, Path: real}, nil
}

// stripPrefix: a child's error without the `limen-host: COMMAND: ` it was printed with.
func stripPrefix(stderr, command string) string {
	text := strings.TrimSpace(stderr)
	if rest, ok := strings.CutPrefix(text, "limen-host: "+command+": "); ok {
		return rest
	}
	return text
}
