package main

// The certificates' behaviour the black-box tests (test/files/limen-host-*.tools.test.ts) do not
// reach: chains, the placeholder's fields, older versions, the words of both outputs, certbot's lock
// and a busy certbot, and acme-remove's refusal of a directory that is not the stack's.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"limen-infra/tools/limen-host/fsafe"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("publishes as root: run `go test ./...` as root")
	}
}

// issued: a certificate signed by parent (itself when nil), valid from notBefore to notAfter.
type issued struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

func issue(t *testing.T, subject string, names []string, ca bool, parent *issued, notBefore, notAfter time.Time) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: subject}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, IsCA: ca,
	}
	signer, signerCert := crypto.Signer(key), template
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &issued{cert: cert, der: der, key: key}
}

func pemOf(certs ...*issued) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})...)
	}
	return out
}

func keyPEM(t *testing.T, key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestCheckPairJudgesTheWholeChain(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	root := issue(t, "Root", nil, true, nil, now.Add(-day), now.Add(300*day))
	intermediate := issue(t, "Intermediate", nil, true, root, now.Add(-day), now.Add(100*day))
	leaf := issue(t, "limen.example.org", []string{"limen.example.org", "*.darc.example.org"}, false, intermediate, now.Add(-day), now.Add(60*day))
	expiredIntermediate := issue(t, "Intermediate", nil, true, root, now.Add(-30*day), now.Add(-day))
	leafOfExpired := issue(t, "limen.example.org", []string{"limen.example.org"}, false, expiredIntermediate, now.Add(-day), now.Add(60*day))
	notACA := issue(t, "Intermediate", nil, false, root, now.Add(-day), now.Add(100*day))
	leafOfNotACA := issue(t, "limen.example.org", []string{"limen.example.org"}, false, notACA, now.Add(-day), now.Add(60*day))
	expired := issue(t, "limen.example.org", []string{"limen.example.org"}, false, intermediate, now.Add(-30*day), now.Add(-day))
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	sec1, _ := x509.MarshalECPrivateKey(leaf.key.(*ecdsa.PrivateKey))
	for _, c := range []struct {
		label   string
		chain   []byte
		key     []byte
		domains []string
		want    string
	}{
		{"leaf, intermediate and root", pemOf(leaf, intermediate, root), keyPEM(t, leaf.key), []string{"limen.example.org", "www.darc.example.org"}, ""},
		{"a SEC 1 key (openssl's EC PRIVATE KEY)", pemOf(leaf, intermediate), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), []string{"limen.example.org"}, ""},
		{"the intermediate missing", pemOf(leaf, root), keyPEM(t, leaf.key), []string{"limen.example.org"}, "certificate 2 in C did not sign certificate 1: the chain is out of order or incomplete"},
		{"out of order", pemOf(leaf, root, intermediate), keyPEM(t, leaf.key), []string{"limen.example.org"}, "certificate 2 in C did not sign certificate 1: the chain is out of order or incomplete"},
		{"an expired intermediate", pemOf(leafOfExpired, expiredIntermediate), keyPEM(t, leafOfExpired.key), []string{"limen.example.org"}, "certificate 2 in C did not sign certificate 1: the chain is out of order or incomplete"},
		{"a signer that is no CA", pemOf(leafOfNotACA, notACA), keyPEM(t, leafOfNotACA.key), []string{"limen.example.org"}, "certificate 2 in C did not sign certificate 1: the chain is out of order or incomplete"},
		{"an expired leaf", pemOf(expired, intermediate), keyPEM(t, expired.key), []string{"limen.example.org"}, "the certificate in C has expired"},
		{"a wildcard one level down only", pemOf(leaf), keyPEM(t, leaf.key), []string{"a.b.darc.example.org"}, "the certificate in C does not cover a.b.darc.example.org"},
		{"an RSA key of another certificate", pemOf(leaf), keyPEM(t, rsaKey), []string{"limen.example.org"}, "the key in K does not belong to the certificate in C"},
		{"a key that is no key", pemOf(leaf), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), nil, "K holds no private key"},
		{"no certificate", []byte("text\n"), keyPEM(t, leaf.key), nil, "C holds no PEM certificate"},
	} {
		if got := checkPair(c.chain, c.key, "C", "K", c.domains, now); got != c.want {
			t.Errorf("%s: %q, want %q", c.label, got, c.want)
		}
	}
}

// openssl req -x509 ... -days 7 made the placeholder: the same subject, names, validity and CA
// extensions, and a key Envoy reads (PKCS #8 P-256) that belongs to it.
func TestPlaceholderIsWhatOpensslMade(t *testing.T) {
	now := time.Now()
	domains := []string{"limen.example.org", "www.example.org"}
	chain, key, err := placeholderPair(domains, now)
	if err != nil {
		t.Fatal(err)
	}
	if problem := checkPair(chain, key, "C", "K", domains, now); problem != "" {
		t.Fatal(problem)
	}
	cert, _ := x509.ParseCertificate(pemBlocks(chain, "CERTIFICATE")[0])
	if cert.Subject.String() != "CN=limen.example.org" || cert.Issuer.String() != "CN=limen.example.org" || !slices.Equal(cert.DNSNames, domains) {
		t.Errorf("subject %s, issuer %s, names %v", cert.Subject, cert.Issuer, cert.DNSNames)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got != 7*24*time.Hour {
		t.Errorf("valid %s, want 7 days", got)
	}
	if !cert.IsCA || len(cert.SubjectKeyId) != 20 || string(cert.AuthorityKeyId) != string(cert.SubjectKeyId) || cert.SerialNumber.Sign() <= 0 {
		t.Errorf("CA %v, key ids %x %x, serial %v", cert.IsCA, cert.SubjectKeyId, cert.AuthorityKeyId, cert.SerialNumber)
	}
	block, _ := pem.Decode(key)
	private, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if ec, ok := private.(*ecdsa.PrivateKey); err != nil || block.Type != "PRIVATE KEY" || !ok || ec.Curve != elliptic.P256() {
		t.Errorf("key: %s %T %v", block.Type, private, err)
	}
}

// Each publish: a complete version, then current swapped; the pair before stays, older ones go,
// and what is not a version (the e-mail record, a file, a link) stays.
func TestPublishKeepsThePairBeforeOnly(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "tls", "limen")
	domains := []string{"limen.example.org"}
	var versions []string
	for i := range 4 {
		chain, key, err := placeholderPair(domains, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := publishPair(dir, chain, key)
		if err != nil || res.Outcome != "published" {
			t.Fatalf("publish %d: %+v %v", i, res, err)
		}
		versions = append(versions, res.Version)
		if i == 0 {
			os.WriteFile(filepath.Join(dir, ".acme-email"), []byte("ops@example.org\n"), 0o600)
			os.Symlink(res.Version, filepath.Join(dir, "by-hand"))
		}
		if again, err := publishPair(dir, chain, key); err != nil || again.Outcome != "unchanged" {
			t.Fatalf("the same pair again: %+v %v", again, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{".acme-email", versions[2], versions[3], "by-hand", "current"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "current")); target != versions[3] {
		t.Errorf("current -> %s, want %s", target, versions[3])
	}
}

// JSON output names the command once; text output is the bash tool's `die "tls-publish: ..."`.
func TestRefusalsInBothOutputs(t *testing.T) {
	needRoot(t)
	lineage := t.TempDir()
	os.WriteFile(filepath.Join(lineage, "fullchain.pem"), []byte("not a certificate\n"), 0o644)
	publish := filepath.Join(t.TempDir(), "limen")
	request := `"command":"tls-publish","lineageDir":"` + lineage + `","publishDir":"` + publish + `","domains":["limen.example.org"]`
	message := "tls-publish: refused " + lineage + ": " + lineage + "/fullchain.pem holds no PEM certificate; " + publish + "/current is unchanged\n"
	for _, output := range []string{"json", "text"} {
		status, stdout, stderr := serveText(t, `{"output":"`+output+`",`+request+`}`)
		if status != 1 || stdout != "" || stderr != "limen-host: "+message {
			t.Errorf("%s: %d %q %q", output, status, stdout, stderr)
		}
	}
	// The files/limen-host.sh defect: `rm -rf` of /etc/limen/../usr passed its `/etc/limen/*` pattern.
	for _, dir := range []string{"/etc/limen/../usr", "/etc/limen/", "/etc/limen/tls//x", "/srv/elsewhere"} {
		status, _, stderr := serveText(t, `{"command":"acme-remove","output":"text","name":"limen","publishDir":"`+dir+`"}`)
		if status != 1 || stderr != "limen-host: acme-remove: refusing to remove "+dir+": not under /etc/limen\n" {
			t.Errorf("%s: %d %q", dir, status, stderr)
		}
	}
	status, stdout, _ := serveText(t, `{"command":"tls-placeholder","publishDir":"`+publish+`","domains":["limen.example.org"]}`)
	var res publishResult
	if err := json.Unmarshal([]byte(stdout), &res); status != 0 || err != nil || res.Outcome != "published" || res.PublishDir != publish || res.Version == "" {
		t.Errorf("tls-placeholder as JSON: %d %q", status, stdout)
	}
}

func TestRenewalSetting(t *testing.T) {
	config := []byte("# renew_before_expiry = 30 days\nversion = 2.1.0\n[renewalparams]\nauthenticator = standalone\nserver=https://acme.example.org/dir\nhttp01_port = 402\nhttp01_address = 127.0.0.1\nserver_name = x\n")
	for key, want := range map[string]string{"server": "https://acme.example.org/dir", "authenticator": "standalone", "http01_port": "402", "webroot_path": ""} {
		if got := renewalSetting(config, key); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}

// fakeCertbot: a certbot stand-in in a root-only directory that records each run's arguments.
func fakeCertbot(t *testing.T, script string) (certbot, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	certbot = filepath.Join(dir, "certbot")
	os.WriteFile(certbot, []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"+script), 0o755)
	return certbot, calls
}

func certbotCalls(calls string) []string {
	text, _ := os.ReadFile(calls)
	return strings.Fields(strings.ReplaceAll(string(text), " ", "_"))
}

// Another certbot holding the lock longer than the deadline: certbot is not run, and the failure
// says so. A certbot that fails with no output is a failure of its own, never taken for the lock
// (files/limen-host.sh read flock's status 1 and an empty output as "another certbot held" it).
func TestCertbotTakesTurnsOnTheLock(t *testing.T) {
	needRoot(t)
	c := &call{ctx: context.Background(), deadlines: map[string]int{"certbot": 1}}
	certbot, calls := fakeCertbot(t, "exit 1\n")
	mode := uint32(0o755)
	dir, err := fsafe.OpenRootDir(certbotLockDir, &mode)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	lock, err := dir.OpenLock(certbotLock)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := runCertbot(c, certbot, []string{"certonly"}, nil); err != errCertbotFailed || len(certbotCalls(calls)) != 0 || time.Since(started) < time.Second {
		t.Errorf("with the lock held: %v, calls %v after %s", err, certbotCalls(calls), time.Since(started))
	}
	lock.Close()
	if err := runCertbot(c, certbot, []string{"certonly"}, nil); err != errCertbotFailed || len(certbotCalls(calls)) != 1 {
		t.Errorf("a certbot that fails: %v, calls %v", err, certbotCalls(calls))
	}
}

// A busy certbot (the timer's renewal) is waited for, also for acme-remove's listing, which the bash
// tool ran once, without the lock: a busy certbot there left the certificate to renew forever.
func TestABusyCertbotIsWaitedFor(t *testing.T) {
	needRoot(t)
	defer func(pause time.Duration) { certbotBusyPause = pause }(certbotBusyPause)
	certbotBusyPause = 10 * time.Millisecond
	c := &call{ctx: context.Background(), deadlines: map[string]int{"certbot": 5}}
	certbot, calls := fakeCertbot(t, `
if [ "$(wc -l < "$(dirname "$0")/calls")" -lt 3 ]; then echo "`+certbotBusy+`" >&2; exit 1; fi
echo "  Certificate Name: limen"
`)
	listing := &cappedBuffer{max: 1 << 10}
	if err := runCertbot(c, certbot, []string{"certificates", "--cert-name", "limen"}, listing); err != nil || !hasLineEnding(listing.String(), "Certificate Name: limen") {
		t.Errorf("%v %q", err, listing.String())
	}
	if got := certbotCalls(calls); len(got) != 3 {
		t.Errorf("calls %v, want 3", got)
	}
	if hasLineEnding("  Certificate Name: limen2\n", "Certificate Name: limen") || hasLineEnding("  Certificate Name: xlimen\n", "Certificate Name: limen") {
		t.Error("hasLineEnding")
	}
}
