package main

// certbot's side of the certificates: acme-certificate and acme-remove (files/limen-host.sh's
// subcommands of the same names). certbot runs by argv, under the certbot deadline, one at a time
// behind flock(2) on /run/limen/certbot.lock; its renewal settings are read and parsed here.

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"limen-infra/tools/limen-host/fsafe"
	"limen-infra/tools/limen-host/limits"
)

func init() {
	register("acme-certificate", handle(certificateWords(runAcmeCertificate), true))
	register("acme-remove", handle(certificateWords(runAcmeRemove), true))
	// certbot, and apt-get that installs it when missing: root runs them from PATH, so they are
	// checked with the others before a command that runs programs starts.
	hostCommands = append(hostCommands, "certbot", "apt-get")
}

// certbotLockDir and certbotLock: certbot refuses to run beside another certbot, which the engine's
// parallel certificate steps and certbot.timer would both cause. Ours take turns on a lock of their
// own, in a root-only directory: in the world-writable /run/lock another user could hold it, or put
// a link there that O_CREAT would follow.
const (
	certbotLockDir = "/run/limen"
	certbotLock    = "certbot.lock"
	certbotBusy    = "Another instance of Certbot is already running"
)

// certName: certbot's --cert-name, also the name of its renewal/NAME.conf.
var certName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// acme-certificate: certbot holds a certificate for exactly the domains from the server, renews it
// from its timer, and the pair Envoy serves is that certificate. certbot runs only when the lineage
// is missing, covers other names, comes from another server or renews through another responder.
type acmeCertificateRequest struct {
	common
	// Name: certbot's --cert-name.
	Name    string   `json:"name" required:"true"`
	Domains []string `json:"domains" required:"true"`
	// Email: the ACME account's contact.
	Email string `json:"email" required:"true"`
	// Server: the ACME directory URL (https).
	Server string `json:"server" required:"true"`
	// ResponderAddress and ResponderPort: where certbot's standalone HTTP-01 responder listens; the
	// port must be one only root can bind.
	ResponderAddress string `json:"responderAddress" required:"true"`
	ResponderPort    int    `json:"responderPort" required:"true"`
	// LineageDir: certbot's live/NAME; its parent's parent is certbot's directory.
	LineageDir string `json:"lineageDir" required:"true"`
	PublishDir string `json:"publishDir" required:"true"`
	// Hook: certbot's deploy hook that publishes each renewal (installed by the stack).
	Hook string `json:"hook" required:"true"`
}

func (r *acmeCertificateRequest) validate() error {
	if !certName.MatchString(r.Name) {
		return fmt.Errorf(`"name" must be a certificate name (letters, digits, '.', '_', '-'), got %q`, r.Name)
	}
	if err := validDomains(r.Domains); err != nil {
		return err
	}
	if strings.HasPrefix(r.Email, "-") || !strings.Contains(r.Email, "@") || strings.IndexFunc(r.Email, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
		return fmt.Errorf(`"email" must be an e-mail address, got %q`, r.Email)
	}
	if u, err := url.Parse(r.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf(`"server" must be an ACME directory URL on https, got %q`, r.Server)
	}
	if net.ParseIP(r.ResponderAddress) == nil {
		return fmt.Errorf(`"responderAddress" must be an IP address, got %q`, r.ResponderAddress)
	}
	if r.ResponderPort < 1 || r.ResponderPort > 65535 {
		return fmt.Errorf(`"responderPort" must be a port number, got %d`, r.ResponderPort)
	}
	for field, value := range map[string]string{"lineageDir": r.LineageDir, "publishDir": r.PublishDir, "hook": r.Hook} {
		if err := absolute(field, value); err != nil {
			return err
		}
	}
	return nil
}

type acmeCertificateResult struct {
	Name string `json:"name"`
	// Certbot: what certbot was run for: certonly (an issuance; Forced: a renewal of the same names
	// forced), update_account (another e-mail), or "" (the lineage was as planned).
	Certbot   string        `json:"certbot,omitempty"`
	Forced    bool          `json:"forced,omitempty"`
	Published publishResult `json:"published"`
}

func (r acmeCertificateResult) text(w io.Writer) error { return r.Published.text(w) }

func runAcmeCertificate(c *call, req *acmeCertificateRequest) (acmeCertificateResult, error) {
	res := acmeCertificateResult{Name: req.Name}
	if err := privilegedPort(req.ResponderPort); err != nil {
		return res, err
	}
	// certbot's directory: what root reads there (the lineage, its renewal settings) only root can change.
	certbotDir := path.Dir(path.Dir(req.LineageDir))
	mode := uint32(0o755)
	if err := fsafe.RootDir(certbotDir, &mode); err != nil {
		return res, err
	}
	certbot, err := installedCertbot(c)
	if err != nil {
		return res, err
	}
	// Renewal is certbot's own timer; the deploy hook (installed by the stack) publishes each renewal.
	systemctl, ok := c.programs["systemctl"]
	if !ok || c.run(program{what: "systemctl enable --now certbot.timer", argv: []string{systemctl, "enable", "--now", "certbot.timer"}, seconds: limits.SystemctlSeconds, stdout: io.Discard, stderr: io.Discard}) != nil {
		return res, died("acme-certificate", "could not enable certbot.timer")
	}
	if _, hookMode, err := fsafe.ReadFollowing(req.Hook); err != nil || hookMode&0o111 == 0 {
		return res, died("acme-certificate", "the renewal hook %s is not installed", req.Hook)
	}
	wanted := slices.Clone(req.Domains)
	slices.Sort(wanted)
	have, err := certificateNames(req.LineageDir + "/cert.pem")
	if err != nil {
		return res, err
	}
	renewal, err := readOptional(certbotDir + "/renewal/" + req.Name + ".conf")
	if err != nil {
		return res, err
	}
	server := renewalSetting(renewal, "server")
	// How certbot will answer the challenge at renewal: it must be the responder Envoy forwards to.
	responder := renewalSetting(renewal, "authenticator") + " " + renewalSetting(renewal, "http01_address") + ":" + renewalSetting(renewal, "http01_port")
	wantedResponder := "standalone " + req.ResponderAddress + ":" + strconv.Itoa(req.ResponderPort)
	emailRecord := req.PublishDir + "/.acme-email"
	if have != strings.Join(wanted, ",") || server != req.Server || responder != wantedResponder {
		args := []string{"certonly", "--non-interactive", "--agree-tos", "--no-eff-email", "--email", req.Email, "--server", req.Server,
			"--standalone", "--http-01-address", req.ResponderAddress, "--http-01-port", strconv.Itoa(req.ResponderPort),
			"--cert-name", req.Name, "--domains", strings.Join(req.Domains, ","), "--preferred-challenges", "http"}
		// Same names from another server (staging to production) or renewed another way (a lineage made
		// by hand with webroot or port 80): certbot keeps a valid certificate and its settings unless forced.
		res.Certbot = "certonly"
		if have != "" && have == strings.Join(wanted, ",") {
			args = append(args, "--force-renewal")
			res.Forced = true
		}
		if err := runCertbot(c, certbot, args, nil); err != nil {
			if stopped(err) {
				return res, err
			}
			return res, died("acme-certificate", "certbot could not obtain the certificate %s for %s from %s (see /var/log/letsencrypt/letsencrypt.log); the pair served is unchanged", req.Name, strings.Join(req.Domains, ","), req.Server)
		}
	} else if recorded, _ := readOptional(emailRecord); strings.TrimRight(string(recorded), "\n") != req.Email {
		// certbot keeps no copy of the account's contact (regr.json's body is empty), so the stack
		// records the e-mail it registered; another one (or a lineage made by hand) updates the account.
		res.Certbot = "update_account"
		if err := runCertbot(c, certbot, []string{"update_account", "--non-interactive", "--no-eff-email", "--email", req.Email, "--server", req.Server}, nil); err != nil {
			if stopped(err) {
				return res, err
			}
			return res, died("acme-certificate", "certbot could not change the ACME account's e-mail to %s (see /var/log/letsencrypt/letsencrypt.log)", req.Email)
		}
	}
	if err := fsafe.RootDir(req.PublishDir, &mode); err != nil {
		return res, err
	}
	if _, err := fsafe.Replace(emailRecord, "0600", "root:root", []byte(req.Email+"\n")); err != nil {
		return res, err
	}
	res.Published, err = publishLineage(req.LineageDir, req.PublishDir, req.Domains)
	return res, err
}

// privilegedPort: only root can bind port on this host: below 1024 and below the host's
// net.ipv4.ip_unprivileged_port_start (which an admin may have lowered). Whoever holds the ACME
// responder's port answers HTTP-01 for every domain the door serves: on a port the app user could
// bind, the app user could get publicly trusted certificates for them.
func privilegedPort(port int) error {
	start := "1024"
	if content, err := fsafe.Cat("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		start = strings.TrimSpace(string(content))
	}
	first, err := strconv.Atoi(start)
	if err != nil {
		return died("acme-certificate", "net.ipv4.ip_unprivileged_port_start is %q, not a port number: cannot tell whether another user could bind port %d", start, port)
	}
	if port >= 1024 || port >= first {
		fix := "choose limen:tls.responderPort below 1024"
		if port < 1024 {
			fix = fmt.Sprintf("set net.ipv4.ip_unprivileged_port_start above %d again (Linux's default is 1024)", port)
		}
		return died("acme-certificate", "the ACME responder's port %d can be bound by any user on this host (net.ipv4.ip_unprivileged_port_start = %s): another user could answer the HTTP-01 challenges for every domain; %s", port, start, fix)
	}
	return nil
}

// installedCertbot: certbot's real path, checked as every program root runs; Debian's package is
// installed first when it is missing.
func installedCertbot(c *call) (string, error) {
	if certbot, ok := c.programs["certbot"]; ok {
		return certbot, nil
	}
	missing := died("acme-certificate", "certbot is missing and apt-get could not install it (Debian's certbot package)")
	aptGet, ok := c.programs["apt-get"]
	if !ok {
		return "", missing
	}
	err := c.run(program{what: "apt-get install certbot", argv: []string{aptGet, "install", "-y", "-q", "certbot"}, env: []string{"DEBIAN_FRONTEND=noninteractive"}, seconds: limits.AptGetInstallSeconds})
	if stopped(err) {
		return "", err
	}
	if err != nil {
		return "", missing
	}
	certbot, found, err := fsafe.Command("certbot", os.Getenv("PATH"))
	if err != nil {
		return "", err
	}
	if !found {
		return "", missing
	}
	return certbot, nil
}

// stopped: the tool itself got a signal (the step's deadline): no message of ours goes after it.
func stopped(err error) bool {
	var s *stoppedError
	return errors.As(err, &s)
}

// readOptional: a file root reads through certbot's (or its own) links; nothing when it is not a
// file there, and an error only when the way to it is one another user could have changed.
func readOptional(path string) ([]byte, error) {
	content, _, err := fsafe.ReadFollowing(path)
	var notRead *fsafe.NotRead
	if errors.As(err, &notRead) && notRead.Kind != fsafe.KindUnsafe {
		return nil, nil
	}
	return content, err
}

// certificateNames: the DNS names of the certificate's subjectAltName, sorted, comma-separated; ""
// when there is no certificate there.
func certificateNames(path string) (string, error) {
	content, err := readOptional(path)
	if err != nil || content == nil {
		return "", err
	}
	blocks := pemBlocks(content, "CERTIFICATE")
	if len(blocks) == 0 {
		return "", nil
	}
	cert, err := x509.ParseCertificate(blocks[0])
	if err != nil {
		return "", nil
	}
	names := slices.Clone(cert.DNSNames)
	slices.Sort(names)
	return strings.Join(names, ","), nil
}

// renewalSetting: a value of certbot's renewal config (`KEY = VALUE` at the start of a line; every
// such line, as sed printed them), "" when the key is missing.
func renewalSetting(config []byte, key string) string {
	var values []string
	for _, line := range strings.Split(string(config), "\n") {
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " ")
		if rest, ok = strings.CutPrefix(rest, "="); ok {
			values = append(values, strings.TrimLeft(rest, " "))
		}
	}
	return strings.TrimRight(strings.Join(values, "\n"), "\n")
}

// errCertbotFailed: certbot ran and did not succeed (its output is on stderr already).
var errCertbotFailed = errors.New("certbot failed")

// runCertbot runs certbot with args, behind the lock, under the certbot deadline. One that meets
// the timer's certbot (busy) waits and tries again, limits.CertbotAttempts times at most; the wait
// for the lock is at most one more deadline. Its output goes to stderr, or, with listing, its stdout
// into listing and its stderr nowhere (`certbot certificates`).
func runCertbot(c *call, certbot string, args []string, listing *cappedBuffer) error {
	seconds := c.seconds("certbot")
	mode := uint32(0o755)
	dir, err := fsafe.OpenRootDir(certbotLockDir, &mode)
	if err != nil {
		return err
	}
	defer dir.Close()
	for attempt := 1; attempt <= limits.CertbotAttempts; attempt++ {
		lock, err := dir.OpenLock(certbotLock)
		if err != nil {
			return fmt.Errorf("cannot open %s/%s: %w", certbotLockDir, certbotLock, err)
		}
		held, err := waitForLock(c.ctx, lock, seconds)
		if err != nil {
			lock.Close()
			return &stoppedError{what: "the wait for " + certbotLockDir + "/" + certbotLock}
		}
		if !held {
			lock.Close()
			fmt.Fprintf(os.Stderr, "limen-host: another certbot held %s/%s for more than %d s\n", certbotLockDir, certbotLock, seconds)
			return errCertbotFailed
		}
		output := &cappedBuffer{max: limits.MaxCertbotOutputBytes}
		p := program{what: "certbot " + args[0], argv: append([]string{certbot}, args...), seconds: seconds}
		if listing != nil {
			listing.Reset()
			p.stdout, p.stderr = listing, output
		} else {
			both := &teeWriter{to: os.Stderr, keep: output}
			p.stdout, p.stderr = both, both
		}
		err = c.run(p)
		lock.Close()
		var deadline *deadlineError
		switch {
		case err == nil:
			return nil
		case stopped(err):
			return err
		case errors.As(err, &deadline):
			fmt.Fprintf(os.Stderr, "limen-host: certbot did not finish within %d s (certbot %s); stopped\n", seconds, args[0])
			return err
		case bytes.Contains(output.Bytes(), []byte(certbotBusy)) || (listing != nil && bytes.Contains(listing.Bytes(), []byte(certbotBusy))):
			fmt.Fprintf(os.Stderr, "certbot is busy (attempt %d); waiting\n", attempt)
			if !pause(c.ctx, certbotBusyPause) {
				return &stoppedError{what: "certbot " + args[0]}
			}
		default:
			return errCertbotFailed
		}
	}
	return errCertbotFailed
}

// certbotBusyPause: the wait after a busy certbot (a test shortens it).
var certbotBusyPause = limits.CertbotBusySeconds * time.Second

// lockPoll: how often a held lock is tried again (flock(2) has no timeout of its own).
const lockPoll = 100 * time.Millisecond

// waitForLock takes an exclusive flock(2) on f within seconds; false when another holds it that long.
func waitForLock(ctx context.Context, f *os.File, seconds int) (bool, error) {
	until := time.Now().Add(time.Duration(seconds) * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return false, err
		case time.Now().After(until):
			return false, nil
		}
		if !pause(ctx, lockPoll) {
			return false, ctx.Err()
		}
	}
}

// pause waits d; false when the tool is stopped first.
func pause(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// cappedBuffer keeps the first max bytes written to it and takes (drops) the rest.
// teeWriter passes everything on to `to` and keeps a copy (capped) in keep.
type teeWriter struct {
	to   io.Writer
	keep *cappedBuffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.keep.Write(p)
	t.to.Write(p)
	return len(p), nil
}

// acme-remove: the stack no longer manages this certificate: certbot forgets it (no more renewals)
// and the published pairs go. Envoy's config stops naming them in the same deployment.
type acmeRemoveRequest struct {
	common
	Name string `json:"name" required:"true"`
	// PublishDir: removed whole; it must be a directory under /etc/limen.
	PublishDir string `json:"publishDir" required:"true"`
}

func (r *acmeRemoveRequest) validate() error {
	if !certName.MatchString(r.Name) {
		return fmt.Errorf(`"name" must be a certificate name (letters, digits, '.', '_', '-'), got %q`, r.Name)
	}
	return inBashWords(r, underStackConfig(r.PublishDir))
}

// underStackConfig: a directory the stack made under /etc/limen (core/host-paths.ts), named without
// "." or ".." or an empty component, so that removing it never reaches beyond it.
func underStackConfig(dir string) error {
	rest, ok := strings.CutPrefix(dir, stackConfigDir+"/")
	if ok {
		for _, part := range strings.Split(rest, "/") {
			if part == "" || part == "." || part == ".." {
				ok = false
			}
		}
	}
	if !ok {
		return died("acme-remove", "refusing to remove %s: not under %s", dir, stackConfigDir)
	}
	return nil
}

type acmeRemoveResult struct {
	Name       string `json:"name"`
	PublishDir string `json:"publishDir"`
	// CertbotDeleted: certbot had the certificate, and forgot it.
	CertbotDeleted bool `json:"certbotDeleted"`
}

func (r acmeRemoveResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "removed certificate %s\n", r.Name)
	return err
}

func runAcmeRemove(c *call, req *acmeRemoveRequest) (acmeRemoveResult, error) {
	res := acmeRemoveResult{Name: req.Name, PublishDir: req.PublishDir}
	if certbot, ok := c.programs["certbot"]; ok {
		listing := &cappedBuffer{max: limits.MaxCertbotOutputBytes}
		err := runCertbot(c, certbot, []string{"certificates", "--cert-name", req.Name}, listing)
		if stopped(err) || interrupted(err) {
			return res, err
		}
		if err == nil && hasLineEnding(listing.String(), "Certificate Name: "+req.Name) {
			if err := runCertbot(c, certbot, []string{"delete", "--non-interactive", "--cert-name", req.Name}, nil); err != nil {
				if stopped(err) {
					return res, err
				}
				return res, died("acme-remove", "certbot could not delete the certificate %s (see /var/log/letsencrypt/letsencrypt.log); its pairs stay", req.Name)
			}
			res.CertbotDeleted = true
		}
	}
	parent, name := path.Split(req.PublishDir)
	d, err := fsafe.OpenRootDir(strings.TrimSuffix(parent, "/"), nil)
	if err != nil {
		return res, err
	}
	defer d.Close()
	if err := d.RemoveTree(name); err != nil {
		return res, fmt.Errorf("%s: not removed: %w", req.PublishDir, err)
	}
	return res, nil
}

// hasLineEnding: a line of text ends with suffix (grep -q "SUFFIX$", with the name taken literally).
func hasLineEnding(text, suffix string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasSuffix(line, suffix) {
			return true
		}
	}
	return false
}
