package main

// The front door's gate: an https request to 127.0.0.1 on the door's port with each site's name (SNI
// and Host) must get an answer from the site (a status below 500; a route to an app that does not
// answer is Envoy's 503), each within gate-request from connect to the last byte (an answer that
// trickles in never goes idle, so only a deadline on the whole exchange ends it). Tried every 0.5 s
// until the release's `seconds`; what the last try saw is what a failure says. Certificates are not
// judged here (verify and the ACME checks do): only that the door answers.
//
// The gate only makes requests, so it runs as nobody, as the bash tool's did: root hands the request
// `envoy-gate` to this same binary (/proc/self/exe) started as nobody, with syscall.Credential and no
// environment, as the file handover does (programs.go, writeAsOwner).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

func init() { register("envoy-gate", handle(runEnvoyGate, false)) }

// gatePause: between two tries of the gate (the bash tool's 0.5 s).
const gatePause = 500 * time.Millisecond

// envoy-gate: the gate, as nobody runs it.
type envoyGateRequest struct {
	common
	// Port: the door's https port on 127.0.0.1 (a candidate's, or the public one).
	Port int `json:"port" required:"true"`
	// Names: the sites' names, each asked as SNI and Host.
	Names []string `json:"names" required:"true"`
	// Seconds: how long the gate is tried before it fails.
	Seconds int `json:"seconds" required:"true"`
}

// serverName: a site's DNS name as the stack renders it (plan/envoy.ts, serverNames).
var serverName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

func validateNames(names []string) error {
	if len(names) == 0 {
		return errors.New(`"names" must list at least one site's name`)
	}
	for _, name := range names {
		if !serverName.MatchString(name) {
			return fmt.Errorf(`"names": %q is not a DNS name`, name)
		}
	}
	return nil
}

func (r *envoyGateRequest) validate() error {
	if r.Port < 1 || r.Port > 65535 {
		return fmt.Errorf(`"port" must be a port number, got %d`, r.Port)
	}
	if r.Seconds < 1 {
		return fmt.Errorf(`"seconds" must be a whole number of seconds above 0, got %d`, r.Seconds)
	}
	return validateNames(r.Names)
}

type envoyGateResult struct {
	Passed bool `json:"passed"`
	// Problems: what the last try saw, one per site that failed it.
	Problems []string `json:"problems,omitempty"`
	Seconds  int      `json:"seconds"`
}

// problem is a failed gate in the bash tool's words.
func (r envoyGateResult) problem() string {
	return fmt.Sprintf("front door gate, not passed within %d s: %s", r.Seconds, strings.Join(r.Problems, "; "))
}

func (r envoyGateResult) text(w io.Writer) error {
	if r.Passed {
		return nil
	}
	_, err := fmt.Fprintln(w, r.problem())
	return err
}

func runEnvoyGate(c *call, req *envoyGateRequest) (envoyGateResult, error) {
	deadline := time.Now().Add(time.Duration(req.Seconds) * time.Second)
	for {
		problems := askDoor(c, req.Port, req.Names)
		if len(problems) == 0 {
			return envoyGateResult{Passed: true, Seconds: req.Seconds}, nil
		}
		if time.Now().Add(gatePause).After(deadline) {
			return envoyGateResult{Problems: problems, Seconds: req.Seconds}, nil
		}
		select {
		case <-c.ctx.Done():
			return envoyGateResult{}, errors.New("the gate was stopped: the host tool got a signal (the step's deadline)")
		case <-time.After(gatePause):
		}
	}
}

// askDoor asks every site at once and returns what failed, in the order of names.
func askDoor(c *call, port int, names []string) []string {
	problems := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { problems[i] = askSite(c, port, name) })
	}
	wg.Wait()
	var failed []string
	for _, problem := range problems {
		if problem != "" {
			failed = append(failed, problem)
		}
	}
	return failed
}

// askSite: one request, on a new connection, within gate-request from connect to the last byte.
func askSite(c *call, port int, name string) string {
	seconds := c.seconds("gate-request")
	ctx, cancel := context.WithTimeout(c.ctx, time.Duration(seconds)*time.Second)
	defer cancel()
	door := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "tcp", door)
		},
		// Only that the door answers: certificates are judged elsewhere (the bash tool's rejectUnauthorized: false).
		TLSClientConfig:   &tls.Config{ServerName: name, InsecureSkipVerify: true},
		DisableKeepAlives: true,
	}
	defer transport.CloseIdleConnections()
	where := fmt.Sprintf("https://%s/ (%s)", name, door)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+name+"/", nil)
	if err != nil {
		return fmt.Sprintf("%s: %s", where, err)
	}
	res, err := transport.RoundTrip(req)
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	switch {
	case err != nil && ctx.Err() != nil && c.ctx.Err() == nil:
		return fmt.Sprintf("%s: no complete answer within %d s", where, seconds)
	case err != nil:
		return fmt.Sprintf("%s: %s", where, errorCode(err))
	case res.StatusCode >= 500:
		return fmt.Sprintf("%s answered %d", where, res.StatusCode)
	}
	return ""
}

// selfArgv: how root starts this binary again for the gate (tests start their own binary).
var selfArgv = []string{"/proc/self/exe"}

// gateOutcome: the gate passed, did not pass (problem says why, in the bash tool's words), or could
// not run (err).
type gateOutcome struct {
	passed  bool
	problem string
}

// gate hands the gate to nobody and waits for it: the release's seconds, plus the last try's request,
// plus the grace a program gets after its deadline.
func (d *door) gate(port int, names []string, seconds int) (gateOutcome, error) {
	nobody, err := lookupAccount(user.Lookup("nobody"))
	if err != nil {
		return gateOutcome{}, fmt.Errorf("cannot run it as nobody: %w", err)
	}
	body, err := json.Marshal(envoyGateRequest{
		common: common{Command: "envoy-gate", Deadlines: map[string]int{"gate-request": d.c.seconds("gate-request")}},
		Port:   port, Names: names, Seconds: seconds,
	})
	if err != nil {
		return gateOutcome{}, err
	}
	var stdout, stderr bytes.Buffer
	limit := seconds + d.c.seconds("gate-request") + 1
	err = d.c.run(program{what: "the front door's gate", argv: selfArgv, stdin: body, seconds: limit, as: nobody, stdout: &stdout, stderr: &stderr})
	if interrupted(err) {
		return gateOutcome{}, err
	}
	if err != nil {
		said := stripPrefix(stderr.String(), "envoy-gate")
		if said == "" {
			said = err.Error()
		}
		return gateOutcome{}, errors.New(said)
	}
	var result envoyGateResult
	if err := json.Unmarshal(stdout.Bytes(), &result); err != nil {
		return gateOutcome{}, fmt.Errorf("it said %q: %w", stdout.String(), err)
	}
	if result.Passed {
		return gateOutcome{passed: true}, nil
	}
	return gateOutcome{problem: result.problem()}, nil
}
