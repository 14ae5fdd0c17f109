// limen-host: the few privileged steps the limen-infra stack takes on a host, run as root through
// sudo. Step 1 of its port from files/limen-host.sh: root's file access (limen-file's read, cat,
// replace, remove, dir, path-dirs, command) and the subcommands check-ready, install-file and
// remove-file. README.md says what is ported, the schema of each request and the plan for the rest.
//
// One typed request as JSON on stdin, `{"command": "install-file", ...fields}`: an unknown field is
// refused, naming it and the command, and a file's content travels inside the request (base64),
// never in argv. The result is one JSON object on stdout; an error is `limen-host: COMMAND: MESSAGE`
// on stderr with a non-zero exit. A request with `"output": "text"` gets the words files/limen-host.sh
// prints instead (stdout and stderr), which today's parsers in hostio/ read, until they read JSON.
//
// Every program it starts is started by argv (never through a shell), with a deadline (limits/).
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

// version: printed by --version (the build's check that the binary runs).
const version = "limen-host 1 (step 1 of the port: file access, check-ready, install-file, remove-file)"

// common: the fields of every request.
type common struct {
	// Command names the handler: one of the keys of commands.
	Command string `json:"command"`
	// Output is "json" (the default) or "text" (files/limen-host.sh's words, for today's parsers).
	Output string `json:"output,omitempty"`
	// Deadlines override limits.ToolDeadlines by name (seconds), as the stack passes hostio/deadlines.ts's.
	Deadlines map[string]int `json:"deadlines,omitempty"`
	// ValidateOnly: the request is decoded and judged, field by field, and nothing else happens: the
	// answer is `{"valid": true}` (text: `valid COMMAND`) or the refusal. The stack's tests send every
	// request it builds this way, so a field the two spell differently fails there, not on a host.
	ValidateOnly bool `json:"validateOnly,omitempty"`
}

func (c *common) base() *common { return c }

// validResult: the answer to a request with validateOnly.
type validResult struct {
	Valid   bool `json:"valid"`
	command string
}

func (r validResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "valid %s\n", r.command)
	return err
}

// request is a command's typed request. Fields tagged `required:"true"` must be present, and a
// required string must not be empty; validate checks the rest.
type request interface {
	base() *common
	validate() error
}

// result is a command's typed result: JSON on stdout, or its text (files/limen-host.sh's words).
type result interface {
	text(w io.Writer) error
}

// command: a request type, its handler, and whether root runs programs from PATH for it (then PATH
// and those programs are checked before the handler starts, as files/limen-host.sh's main does).
type command struct {
	newRequest   func() request
	run          func(*call, request) (result, error)
	runsPrograms bool
	// maxRequestBytes: the command's own limit on its request; 0: limits.MaxRequestBytes.
	maxRequestBytes int
}

// requestLimit is the most a request of the command may be.
func (c command) requestLimit() int {
	if c.maxRequestBytes > 0 {
		return c.maxRequestBytes
	}
	return limits.MaxRequestBytes
}

// largestRequest: what is read of stdin before the command is known (the largest limit of any
// command); the command's own limit is checked once its name is read.
func largestRequest() int {
	largest := limits.MaxRequestBytes
	for _, c := range commands {
		largest = max(largest, c.requestLimit())
	}
	return largest
}

// handle ties a typed handler to its request type.
func handle[T any, PT interface {
	*T
	request
}, R result](run func(*call, PT) (R, error), runsPrograms bool) command {
	return command{
		newRequest:   func() request { return PT(new(T)) },
		run:          func(c *call, req request) (result, error) { return run(c, req.(PT)) },
		runsPrograms: runsPrograms,
	}
}

// commands: every request the tool takes, by name. The file of each group of subcommands adds its
// own in an init function (register), so that a group is one file and its tests.
var commands = map[string]command{
	"check-ready":  handle(runCheckReady, true),
	"install-file": handle(runInstallFile, true),
	"remove-file":  handle(runRemoveFile, true),
	"read":         handle(runRead, false),
	"cat":          handle(runCat, false),
	"replace":      handle(runReplace, false),
	"remove":       handle(runRemove, false),
	"dir":          handle(runDir, false),
	"path-dirs":    handle(runPathDirs, false),
	"command":      handle(runCommand, false),
}

// register adds a group's command (from its file's init function).
func register(name string, c command) {
	if _, taken := commands[name]; taken {
		panic("limen-host: command " + name + " registered twice")
	}
	commands[name] = c
}

// commandOrder: the usage line's order (the host tool's subcommands first, as files/limen-host.sh
// lists them, then limen-file's). A name with no handler registered is left out of the usage.
var commandOrder = []string{
	"check-ready", "install-file", "remove-file",
	"apply-firewall", "confirm-firewall", "revert-firewall", "remove-firewall",
	"pm2-enable", "pm2-apply", "pm2-mark-loaded", "pm2-save", "pm2-remove",
	"envoy-release", "envoy-settle", "envoy-forget", "envoy-gate",
	"acme-certificate", "acme-remove", "tls-placeholder", "tls-publish",
	"container-holder", "container-claim",
	"install-self", "tool-status",
	"read", "cat", "replace", "remove", "dir", "path-dirs", "command",
}

// hostCommands: the programs root runs from PATH, each checked (fsafe.PathDirs) before a command
// that runs programs starts, and then run by the real path found there.
var hostCommands = []string{"nft", "systemctl", "node", "docker", "pm2"}

// call: one request being handled.
type call struct {
	ctx       context.Context
	command   string
	deadlines map[string]int
	// programs: the real path of each of hostCommands found on PATH, checked.
	programs map[string]string
}

// seconds is the deadline of a wait named in limits.ToolDeadlines, as the request set it.
func (c *call) seconds(name string) int {
	if s, ok := c.deadlines[name]; ok {
		return s
	}
	return limits.ToolDeadlines[name]
}

// exitError: a failure with an exit status other than 1 (command: 2 for a program not installed).
type exitError struct {
	status int
	err    error
}

func (e *exitError) Error() string { return e.err.Error() }

// namedError: a failure files/limen-host.sh says with its subcommand's name first ("pm2-apply: …"):
// the text output says it so, as the JSON output's prefix always does.
type namedError struct{ err error }

func (e *namedError) Error() string { return e.err.Error() }
func (e *namedError) Unwrap() error { return e.err }

func main() {
	unix.Umask(0o077)
	// The stack runs the tool through a descriptor of its shell (hostio/host-tool-run.ts: the file judged
	// is the file run), which the tool inherits: nothing the tool starts (pm2's daemon, docker) keeps it.
	// Best effort: a kernel without close_range (before 5.11) leaves it open, read-only.
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(version)
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "limen-host: takes no arguments: one JSON request on stdin (%s)\n", usage())
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		// At a deadline (root's `timeout` around the step) or a signal: the programs started get SIGTERM
		// through the context, and the handler returns; one that does not return in time is left, and
		// what it staged is removed before the exit.
		<-signals
		cancel()
		time.Sleep(limits.KillAfterSeconds * time.Second)
		cleanups.run()
		os.Exit(143)
	}()
	os.Exit(serve(ctx, os.Stdin, os.Stdout, os.Stderr))
}

// serve handles one request and returns the exit status.
func serve(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	raw, err := io.ReadAll(io.LimitReader(stdin, int64(largestRequest())+1))
	if err != nil {
		fmt.Fprintf(stderr, "limen-host: cannot read the request: %s\n", err)
		return 1
	}
	req, name, textOutput, err := decode(raw)
	fail := func(err error) int {
		prefix := "limen-host: "
		var named *namedError
		if name != "" && (!textOutput || errors.As(err, &named)) {
			prefix += name + ": "
		}
		fmt.Fprintf(stderr, "%s%s\n", prefix, err)
		var exit *exitError
		if errors.As(err, &exit) {
			return exit.status
		}
		return 1
	}
	if err != nil {
		return fail(err)
	}
	write := func(res result) int {
		var err error
		if textOutput {
			err = res.text(stdout)
		} else {
			encoder := json.NewEncoder(stdout)
			encoder.SetEscapeHTML(false)
			err = encoder.Encode(res)
		}
		if err != nil {
			return fail(fmt.Errorf("cannot write the result: %w", err))
		}
		return 0
	}
	if req.base().ValidateOnly {
		return write(validResult{Valid: true, command: name})
	}
	c := &call{ctx: ctx, command: name, deadlines: req.base().Deadlines}
	handler := commands[name]
	if handler.runsPrograms {
		path := os.Getenv("PATH")
		c.programs, err = fsafe.PathDirs(strings.Split(path, ":"), hostCommands, path)
		if err != nil {
			return fail(err)
		}
	}
	res, err := handler.run(c, req)
	cleanups.run()
	if err != nil {
		status := fail(err)
		if ctx.Err() != nil {
			return 143
		}
		return status
	}
	return write(res)
}

func usage() string {
	var names []string
	for _, name := range commandOrder {
		if _, ok := commands[name]; ok {
			names = append(names, name)
		}
	}
	return "usage: limen-host " + strings.Join(names, "|") + `, as one JSON request on stdin: {"command": NAME, ...its fields}`
}

// decode reads one request: its command, then its fields into the command's type. It returns the
// command's name and whether the request asked for text as soon as they are known, so that an error
// names the command, in the words the caller reads.
func decode(raw []byte) (req request, name string, textOutput bool, err error) {
	req, name, err = decodeRequest(raw, &textOutput)
	return req, name, textOutput, err
}

func decodeRequest(raw []byte, textOutput *bool) (request, string, error) {
	if len(raw) > largestRequest() {
		return nil, "", fmt.Errorf("the request is larger than %d bytes (a file's content is at most %d bytes)", largestRequest(), limits.MaxFileBytes)
	}
	var fields map[string]json.RawMessage
	if err := strictUnmarshal(raw, &fields); err != nil {
		return nil, "", fmt.Errorf("the request is not one JSON object (%s); %s", err, usage())
	}
	if fields == nil {
		return nil, "", fmt.Errorf("the request is not one JSON object; %s", usage())
	}
	var output string
	if json.Unmarshal(fields["output"], &output) == nil && output == "text" {
		*textOutput = true
	}
	var name string
	if err := json.Unmarshal(fields["command"], &name); err != nil || name == "" {
		return nil, "", fmt.Errorf("the request names no command; %s", usage())
	}
	handler, ok := commands[name]
	if !ok {
		return nil, "", fmt.Errorf("unknown command %q; %s", name, usage())
	}
	if len(raw) > handler.requestLimit() {
		return nil, "", fmt.Errorf("the request is larger than %d bytes, the limit of a %s request (a file's content is at most %d bytes)", handler.requestLimit(), name, limits.MaxFileBytes)
	}
	req := handler.newRequest()
	known := jsonFields(reflect.TypeOf(req).Elem())
	var unknown []string
	for field := range fields {
		if !slices.Contains(known.all, field) {
			unknown = append(unknown, fmt.Sprintf("%q", field))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, name, fmt.Errorf("unknown field %s in a %s request (its fields: %s)", strings.Join(unknown, ", "), name, strings.Join(known.all, ", "))
	}
	if err := strictUnmarshal(raw, req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, name, fmt.Errorf("field %q must be %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
		}
		var base64Err base64.CorruptInputError
		if errors.As(err, &base64Err) {
			return nil, name, fmt.Errorf(`"contentBase64" is not base64 (at byte %d)`, int64(base64Err))
		}
		return nil, name, fmt.Errorf("field of the request: %w", err)
	}
	for _, field := range known.required {
		if _, ok := fields[field]; !ok {
			return nil, name, fmt.Errorf("%q is required", field)
		}
	}
	if err := known.checkNonEmpty(req); err != nil {
		return nil, name, err
	}
	base := req.base()
	if base.Output != "" && base.Output != "json" && base.Output != "text" {
		return nil, name, fmt.Errorf(`"output" is "json" or "text", not %q`, base.Output)
	}
	for deadline, seconds := range base.Deadlines {
		if _, ok := limits.ToolDeadlines[deadline]; !ok {
			return nil, name, fmt.Errorf("unknown deadline %q (known: pm2-call, gate-request, certbot, envoy-validate)", deadline)
		}
		if seconds < 1 {
			return nil, name, fmt.Errorf("deadline %q must be a whole number of seconds above 0, got %d", deadline, seconds)
		}
	}
	if err := req.validate(); err != nil {
		return nil, name, err
	}
	return req, name, nil
}

// strictUnmarshal decodes exactly one JSON value, refusing fields the type does not have and
// anything after the value.
func strictUnmarshal(raw []byte, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(into); err != nil {
		return err
	}
	if decoder.More() {
		return errors.New("more than one JSON value")
	}
	var rest json.RawMessage
	if err := decoder.Decode(&rest); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

type fieldSet struct {
	all, required []string
	nonEmpty      []int // indexes of required string fields (in the request's own struct)
}

var fieldSets sync.Map

// jsonFields lists a request type's JSON field names (the embedded common ones included), and which
// are required.
func jsonFields(t reflect.Type) fieldSet {
	if cached, ok := fieldSets.Load(t); ok {
		return cached.(fieldSet)
	}
	var set fieldSet
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			inner := jsonFields(f.Type)
			set.all = append(set.all, inner.all...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		set.all = append(set.all, name)
		if f.Tag.Get("required") == "true" {
			set.required = append(set.required, name)
			if f.Type.Kind() == reflect.String {
				set.nonEmpty = append(set.nonEmpty, i)
			}
		}
	}
	fieldSets.Store(t, set)
	return set
}

func (s fieldSet) checkNonEmpty(req request) error {
	v := reflect.ValueOf(req).Elem()
	for _, i := range s.nonEmpty {
		if v.Field(i).String() == "" {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return fmt.Errorf("%q must not be empty", name)
		}
	}
	return nil
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 text"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Uint32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// cleanups: what a run must undo however it ends (a stage of new content, with its secrets).
var cleanups cleanupList

type cleanupList struct {
	sync.Mutex
	funcs []func()
}

func (l *cleanupList) add(f func()) {
	l.Lock()
	defer l.Unlock()
	l.funcs = append(l.funcs, f)
}

func (l *cleanupList) run() {
	l.Lock()
	defer l.Unlock()
	for _, f := range slices.Backward(l.funcs) {
		f()
	}
	l.funcs = nil
}
