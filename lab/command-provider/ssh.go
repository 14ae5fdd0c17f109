package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

// Backoff between dial attempts: first wait, growth factor, cap.
var (
	dialBackoffFirst = 500 * time.Millisecond
	dialBackoffMax   = 5 * time.Second
)

func (c connection) endpoint() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// hostKeyMismatchError: the server's key is not the pinned one. Never retried.
type hostKeyMismatchError struct {
	endpoint  string
	want, got ssh.PublicKey
}

func (e *hostKeyMismatchError) Error() string {
	return fmt.Sprintf("remote host %s presented a host key that does not match the pinned hostKey "+
		"(pinned %s %s, presented %s %s): the host key changed, or this is not the host the stack means; "+
		"refusing to connect",
		e.endpoint, e.want.Type(), ssh.FingerprintSHA256(e.want), e.got.Type(), ssh.FingerprintSHA256(e.got))
}

// hostKeyAlgorithms: the algorithms to offer so that the server presents the
// key of the pinned type (sshd otherwise picks by its own preference and could
// present e.g. its ECDSA key when an Ed25519 key is pinned).
func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	if keyType == ssh.CertAlgoRSAv01 {
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{keyType}
}

// clientConfig builds the SSH client configuration. The returned cleanup closes
// an agent connection, if one was opened.
func (c connection) clientConfig() (*ssh.ClientConfig, func(), error) {
	cleanup := func() {}
	cfg := &ssh.ClientConfig{User: c.User}

	if c.HostKey != nil {
		pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
		if err != nil {
			return nil, cleanup, fmt.Errorf("connection.hostKey is not a valid authorized_keys line: %w", err)
		}
		endpoint := c.endpoint()
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(pinned.Type())
		cfg.HostKeyCallback = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if bytes.Equal(key.Marshal(), pinned.Marshal()) {
				return nil
			}
			return &hostKeyMismatchError{endpoint: endpoint, want: pinned, got: key}
		}
	} else {
		// As upstream: without hostKey the server's key is not checked.
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	}

	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			// The parser's errors never contain key material.
			return nil, cleanup, fmt.Errorf("connection.privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		pw := *c.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := ""
	if c.AgentSocketPath != nil {
		sock = *c.AgentSocketPath
	} else {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		ac, err := net.Dial("unix", sock)
		if err != nil {
			return nil, cleanup, fmt.Errorf("connecting to the SSH agent at %s: %w", sock, err)
		}
		cleanup = func() { ac.Close() }
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(ac).Signers))
	}
	return cfg, cleanup, nil
}

// dialOnce: TCP connect plus SSH handshake, both bounded by perDialTimeout
// (x/crypto's ClientConfig.Timeout only bounds the TCP connect, so a server that
// accepts but never answers would otherwise hang).
func (c connection) dialOnce(ctx context.Context, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	timeout := time.Duration(c.PerDialTimeout) * time.Second
	dctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", c.endpoint())
	if err != nil {
		return nil, err
	}
	if deadline, ok := dctx.Deadline(); ok {
		_ = nc.SetDeadline(deadline)
	}
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(nc, c.endpoint(), cfg)
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = dctx.Err()
		}
		if dctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no SSH handshake within perDialTimeout %ds: %w", c.PerDialTimeout, err)
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

// dial retries until it connects, dialErrorLimit errors have happened (upstream
// semantics: the limit counts allowed errors, so limit N means up to N+1
// attempts; a negative limit retries forever), or the operation is cancelled.
// A host key mismatch is final at once.
func (c connection) dial(ctx context.Context) (*ssh.Client, error) {
	cfg, cleanup, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	limit := "unlimited"
	if c.DialErrorLimit >= 0 {
		limit = strconv.Itoa(c.DialErrorLimit + 1)
	}
	wait := dialBackoffFirst
	for attempt := 1; ; attempt++ {
		client, err := c.dialOnce(ctx, cfg)
		if err == nil {
			return client, nil
		}
		var mismatch *hostKeyMismatchError
		if errors.As(err, &mismatch) {
			return nil, mismatch
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ssh %s@%s: cancelled after %d dial attempts: %w", c.User, c.endpoint(), attempt, err)
		}
		if c.DialErrorLimit >= 0 && attempt > c.DialErrorLimit {
			return nil, fmt.Errorf("ssh %s@%s: giving up after %d failed dial attempts (dialErrorLimit %d): %w",
				c.User, c.endpoint(), attempt, c.DialErrorLimit, err)
		}
		p.GetLogger(ctx).InfoStatusf("dial %s attempt %d/%s failed (%v); retrying in %s",
			c.endpoint(), attempt, limit, err, wait.Round(100*time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("ssh %s@%s: cancelled after %d dial attempts: %w", c.User, c.endpoint(), attempt, err)
		case <-t.C:
		}
		wait = min(wait*3/2, dialBackoffMax)
	}
}

// lineLogger sends whole lines to the engine as info status messages, the way
// upstream streams command output.
type lineLogger struct {
	ctx context.Context
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		p.GetLogger(l.ctx).InfoStatus(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(b), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		p.GetLogger(l.ctx).InfoStatus(string(l.buf))
		l.buf = nil
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runRemote runs one command on the host. prevStdout/prevStderr are the outputs
// of the previous create/update, exported as PULUMI_COMMAND_STDOUT/STDERR when
// addPreviousOutputInEnv is on. It returns stdout and stderr with one trailing
// newline removed, as upstream does.
func runRemote(ctx context.Context, in commandInputs, cmd commandText, prevStdout, prevStderr string) (string, string, error) {
	conn := in.Connection
	client, err := conn.dial(ctx)
	if err != nil {
		return "", "", err
	}
	defer client.Close()

	session, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("ssh %s@%s: opening a session: %w", conn.User, conn.endpoint(), err)
	}
	defer session.Close()

	log := p.GetLogger(ctx)
	keys := make([]string, 0, len(in.Environment))
	for k := range in.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := session.Setenv(k, in.Environment[k]); err != nil {
			// As upstream: an environment variable the server refuses fails the command.
			log.Errorf("Unable to set '%s'. This only works if the SSH server accepts the variable "+
				"(sshd_config AcceptEnv). Alternatively prefix the command with 'VAR=value'.", k)
			return "", "", fmt.Errorf("could not set environment variable %q on %s: %w", k, conn.endpoint(), err)
		}
	}
	if in.AddPreviousOutputInEnv {
		for _, kv := range [][2]string{{envPrevStdout, prevStdout}, {envPrevStderr, prevStderr}} {
			if kv[1] == "" {
				continue
			}
			if err := session.Setenv(kv[0], kv[1]); err != nil {
				// As upstream: only a warning.
				log.Warningf("Unable to set '%s'. This only works if the SSH server accepts the variable "+
					"(sshd_config AcceptEnv).", kv[0])
			}
		}
	}

	if in.Stdin != nil && *in.Stdin != "" {
		session.Stdin = strings.NewReader(*in.Stdin)
	}

	var stdout, stderr bytes.Buffer
	var shown lockedBuffer // the streams logging allows, interleaved: for the error message
	logger := &lineLogger{ctx: ctx}
	outW := []io.Writer{&stdout}
	errW := []io.Writer{&stderr}
	if in.logStdout() {
		outW = append(outW, &shown, logger)
	}
	if in.logStderr() {
		errW = append(errW, &shown, logger)
	}
	session.Stdout = io.MultiWriter(outW...)
	session.Stderr = io.MultiWriter(errW...)

	stop := context.AfterFunc(ctx, func() {
		_ = session.Signal(ssh.SIGKILL)
		client.Close()
	})
	err = session.Run(cmd.Text)
	stop()
	logger.flush()

	if err != nil {
		shownCmd := strconv.Quote(cmd.Text)
		if cmd.Secret {
			shownCmd = "[secret command]"
		}
		var status string
		var exitErr *ssh.ExitError
		var missing *ssh.ExitMissingError
		switch {
		case ctx.Err() != nil:
			status = "cancelled"
		case errors.As(err, &exitErr):
			status = exitErr.Error() // "Process exited with status N" (as upstream)
		case errors.As(err, &missing):
			status = "the command ended without an exit status (connection lost?)"
		default:
			status = err.Error()
		}
		output := shown.String()
		if !in.logStdout() && !in.logStderr() {
			output = "(output not shown: logging is \"none\")"
		} else if !in.logStdout() || !in.logStderr() {
			output = fmt.Sprintf("(only what logging %q shows)\n%s", in.Logging, output)
		}
		return "", "", fmt.Errorf("%s: running %s on %s@%s:\n%s", status, shownCmd, conn.User, conn.endpoint(), output)
	}
	return strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n"), nil
}
