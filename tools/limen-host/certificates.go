package main

// Certificates Envoy serves (limen:tls.source "acme"): tls-publish and tls-placeholder
// (files/limen-host.sh's subcommands of the same names; acme.go has acme-certificate and acme-remove).
//
// certbot keeps its lineage in lineageDir (/etc/letsencrypt/live/NAME). Envoy serves a checked copy
// published under publishDir as DIR/current -> DIR/VERSION/{fullchain,privkey}.pem. The link is
// swapped with rename(2), which Envoy's watched_directory sees as one move: a reader finds the old
// pair or the new one, never a mix. Every step in DIR is taken relative to its descriptor (fsafe).
//
// The private key is read into memory and written only into its version directory (0600, O_EXCL):
// it is never in argv, in a message or in a file left elsewhere. The placeholder's key is made here.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"time"

	"limen-infra/tools/limen-host/fsafe"
)

func init() {
	register("tls-publish", handle(certificateWords(runTLSPublish), false))
	register("tls-placeholder", handle(certificateWords(runTLSPlaceholder), false))
}

// placeholderValidity: the placeholder is replaced by the issued pair within minutes; a week is
// what the bash tool gave it (openssl req -days 7).
const placeholderValidity = 7 * 24 * time.Hour

// tls-publish: certbot's renewal hook and acme-certificate's last step. A pair that fails the check
// is refused and the one served stays: the hook's failure is what certbot reports.
type tlsPublishRequest struct {
	common
	// LineageDir: certbot's live/NAME, whose fullchain.pem and privkey.pem are published.
	LineageDir string `json:"lineageDir" required:"true"`
	// PublishDir: DIR of DIR/current (created 0755 when missing).
	PublishDir string `json:"publishDir" required:"true"`
	// Domains: every name the certificate must cover.
	Domains []string `json:"domains" required:"true"`
}

func (r *tlsPublishRequest) validate() error {
	if err := absolute("lineageDir", r.LineageDir); err != nil {
		return err
	}
	if err := absolute("publishDir", r.PublishDir); err != nil {
		return err
	}
	return validDomains(r.Domains)
}

// tls-placeholder: a self-signed pair for a certificate not issued yet, so that Envoy starts with its
// SDS secrets and forwards the first HTTP-01 challenge; the issued pair replaces it. Never replaces a pair.
type tlsPlaceholderRequest struct {
	common
	PublishDir string `json:"publishDir" required:"true"`
	// Domains: the placeholder's names (subjectAltName), the first one also its common name.
	Domains []string `json:"domains" required:"true"`
}

func (r *tlsPlaceholderRequest) validate() error {
	if err := absolute("publishDir", r.PublishDir); err != nil {
		return err
	}
	return validDomains(r.Domains)
}

// publishResult: what became of DIR/current.
type publishResult struct {
	PublishDir string `json:"publishDir"`
	// Outcome: published (current points at Version now), unchanged (it already served this pair) or
	// kept (tls-placeholder: a pair is there, and stays).
	Outcome string `json:"outcome"`
	Version string `json:"version,omitempty"`
}

func (r publishResult) text(w io.Writer) error {
	var err error
	switch r.Outcome {
	case "published":
		_, err = fmt.Fprintf(w, "published %s/current -> %s\n", r.PublishDir, r.Version)
	default:
		_, err = fmt.Fprintf(w, "%s %s/current\n", r.Outcome, r.PublishDir)
	}
	return err
}

func runTLSPublish(_ *call, req *tlsPublishRequest) (publishResult, error) {
	return publishLineage(req.LineageDir, req.PublishDir, req.Domains)
}

// publishLineage checks certbot's pair in lineage and publishes it (tls-publish, and acme-certificate's
// last step).
func publishLineage(lineage, publishDir string, domains []string) (publishResult, error) {
	// certbot's lineage links into its archive: read only where nobody but root could have placed them.
	if err := fsafe.RootDir(lineage, nil); err != nil {
		return publishResult{}, err
	}
	chain, key, problem := readLineagePair(lineage)
	if problem == "" {
		problem = checkPair(chain, key, lineage+"/fullchain.pem", lineage+"/privkey.pem", domains, time.Now())
	}
	if problem != "" {
		return publishResult{}, died("tls-publish", "refused %s: %s; %s/current is unchanged", lineage, problem, publishDir)
	}
	return publishPair(publishDir, chain, key)
}

// readLineagePair reads the lineage's two files through certbot's links. A file that is not there
// is read as empty, which the check then names as holding no certificate or no key, in its order.
func readLineagePair(lineage string) (chain, key []byte, problem string) {
	read := func(path string) ([]byte, string) {
		content, _, err := fsafe.ReadFollowing(path)
		var notRead *fsafe.NotRead
		if errors.As(err, &notRead) && notRead.Kind != fsafe.KindUnsafe && notRead.Kind != fsafe.KindOversized {
			return nil, ""
		}
		if err != nil {
			return nil, err.Error()
		}
		return content, ""
	}
	if chain, problem = read(lineage + "/fullchain.pem"); problem != "" {
		return nil, nil, problem
	}
	key, problem = read(lineage + "/privkey.pem")
	return chain, key, problem
}

// checkPair: the pair Envoy would serve parses, has not expired, its key belongs to its certificate,
// its names cover every domain, and each certificate in the chain signed the one before it. The
// problem is "" for a good pair; it never quotes the key.
func checkPair(chainPEM, keyPEM []byte, chainPath, keyPath string, domains []string, now time.Time) string {
	chain := pemBlocks(chainPEM, "CERTIFICATE")
	if len(chain) == 0 {
		return chainPath + " holds no PEM certificate"
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return chainPath + " holds no PEM certificate"
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return keyPath + " holds no private key"
	}
	if now.After(leaf.NotAfter) {
		return "the certificate in " + chainPath + " has expired"
	}
	public, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !public.Equal(leaf.PublicKey) {
		return fmt.Sprintf("the key in %s does not belong to the certificate in %s", keyPath, chainPath)
	}
	for _, domain := range domains {
		if leaf.VerifyHostname(domain) != nil {
			return fmt.Sprintf("the certificate in %s does not cover %s", chainPath, domain)
		}
	}
	// Certificate 1 is the leaf, 2 what signed it, and so on: as `openssl verify -partial_chain`
	// judged each against the next, both within their validity, the issuer's name the signer's.
	child := leaf
	for n := 1; n < len(chain); n++ {
		parent, err := x509.ParseCertificate(chain[n])
		if err != nil || !bytes.Equal(child.RawIssuer, parent.RawSubject) || child.CheckSignatureFrom(parent) != nil ||
			!within(child, now) || !within(parent, now) {
			return fmt.Sprintf("certificate %d in %s did not sign certificate %d: the chain is out of order or incomplete", n+1, chainPath, n)
		}
		child = parent
	}
	return ""
}

func within(cert *x509.Certificate, now time.Time) bool {
	return !now.Before(cert.NotBefore) && !now.After(cert.NotAfter)
}

// pemBlocks: the DER of each PEM block of kind, in order.
func pemBlocks(text []byte, kind string) [][]byte {
	var out [][]byte
	for {
		var block *pem.Block
		block, text = pem.Decode(text)
		if block == nil {
			return out
		}
		if block.Type == kind {
			out = append(out, block.Bytes)
		}
	}
}

// parsePrivateKey: the first private key in the PEM text, as certbot (PKCS #8) or openssl (PKCS #8,
// SEC 1, PKCS #1) writes it. Its error never quotes the key.
func parsePrivateKey(text []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, text = pem.Decode(text)
		if block == nil {
			return nil, errors.New("no private key")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, errors.New("the private key does not parse")
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, errors.New("not a signing key")
		}
		return signer, nil
	}
}

// publishPair copies the pair into a new version directory, then swaps DIR/current to it. The pair
// before stays one renewal longer (a connection may still be handshaking with it); older ones go.
func publishPair(dir string, chain, key []byte) (publishResult, error) {
	mode := uint32(0o755)
	d, err := fsafe.OpenRootDir(dir, &mode)
	if err != nil {
		return publishResult{}, err
	}
	defer d.Close()
	return publishIn(d, dir, chain, key, time.Now())
}

func publishIn(d *fsafe.Dir, dir string, chain, key []byte, now time.Time) (publishResult, error) {
	if served, _, err := fsafe.ReadFollowing(dir + "/current/fullchain.pem"); err == nil && bytes.Equal(served, chain) {
		if servedKey, _, err := fsafe.ReadFollowing(dir + "/current/privkey.pem"); err == nil && bytes.Equal(servedKey, key) {
			return publishResult{PublishDir: dir, Outcome: "unchanged"}, nil
		}
	}
	version := now.UTC().Format("20060102T150405.000000000Z")
	v, err := d.MakeDir(version, 0o755)
	if err != nil {
		return publishResult{}, fmt.Errorf("cannot create %s/%s: %w", dir, version, err)
	}
	err = v.CreateFile("fullchain.pem", 0o644, chain)
	if err == nil {
		err = v.CreateFile("privkey.pem", 0o600, key)
	}
	if err == nil {
		err = v.Sync()
	}
	v.Close()
	if err != nil {
		// A version never served: it goes, and the key in it.
		d.RemoveTree(version)
		return publishResult{}, fmt.Errorf("cannot write the pair into %s/%s: %w; %s/current is unchanged", dir, version, err, dir)
	}
	old, _ := d.Readlink("current")
	if err := d.SwapLink("current", version); err != nil {
		d.RemoveTree(version)
		return publishResult{}, fmt.Errorf("%s: %w; current is unchanged", dir, err)
	}
	entries, err := d.Entries()
	if err != nil {
		return publishResult{}, fmt.Errorf("published %s/current -> %s, but cannot list %s to remove older pairs: %w", dir, version, dir, err)
	}
	for _, entry := range entries {
		if !entry.IsDir || strings.HasPrefix(entry.Name, ".") || entry.Name == version || entry.Name == old {
			continue
		}
		if err := d.RemoveTree(entry.Name); err != nil {
			return publishResult{}, fmt.Errorf("published %s/current -> %s, but an older pair stays: %s/%w", dir, version, dir, err)
		}
	}
	return publishResult{PublishDir: dir, Outcome: "published", Version: version}, nil
}

func runTLSPlaceholder(_ *call, req *tlsPlaceholderRequest) (publishResult, error) {
	mode := uint32(0o755)
	d, err := fsafe.OpenRootDir(req.PublishDir, &mode)
	if err != nil {
		return publishResult{}, err
	}
	defer d.Close()
	if d.Exists("current") {
		return publishResult{PublishDir: req.PublishDir, Outcome: "kept"}, nil
	}
	now := time.Now()
	chain, key, err := placeholderPair(req.Domains, now)
	if err != nil {
		return publishResult{}, died("tls-placeholder", "could not make a placeholder certificate: %s", err)
	}
	return publishIn(d, req.PublishDir, chain, key, now)
}

// placeholderPair: what `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
// -days 7 -subj /CN=FIRST -addext subjectAltName=DNS:...` made: a P-256 key (PKCS #8) and a
// self-signed certificate for the domains, with openssl's v3_ca extensions (a critical CA:TRUE,
// the key's identifier as subject and authority key identifier) and a random 159-bit serial.
func placeholderPair(domains []string, now time.Time) (chain, key []byte, err error) {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial := make([]byte, 20)
	if _, err := rand.Read(serial); err != nil {
		return nil, nil, err
	}
	serial[0] &= 0x7f
	point, err := private.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	// RFC 5280's method 1, as openssl's subjectKeyIdentifier=hash: SHA-1 of the public key's bits.
	keyID := sha1.Sum(point.Bytes())
	template := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		Subject:               pkix.Name{CommonName: domains[0]},
		NotBefore:             now,
		NotAfter:              now.Add(placeholderValidity),
		DNSNames:              domains,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID[:],
		AuthorityKeyId:        keyID[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &private.PublicKey, private)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// dnsName: a name a certificate covers (a wildcard's "*." included); the request's names reach
// certbot's argv and the placeholder's subjectAltName.
var dnsName = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$`)

func validDomains(domains []string) error {
	if len(domains) == 0 {
		return errors.New(`"domains" must list at least one name`)
	}
	for _, domain := range domains {
		if !dnsName.MatchString(domain) {
			return fmt.Errorf(`"domains": %q is not a DNS name`, domain)
		}
	}
	return nil
}

func absolute(field, path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%q must be an absolute path, got %q", field, path)
	}
	return nil
}

// subError: files/limen-host.sh's `die "SUBCOMMAND: MESSAGE"`. With text output main prints
// "limen-host: " and the error, so the subcommand's name goes into the message (certificateWords);
// with JSON output main names the command itself.
type subError struct{ sub, msg string }

func (e *subError) Error() string { return e.msg }

func died(sub, format string, args ...any) error {
	return &subError{sub: sub, msg: fmt.Sprintf(format, args...)}
}

// inBashWords: err as the bash tool said it, for a request with text output.
func inBashWords(req request, err error) error {
	said, ok := err.(*subError)
	if ok && req.base().Output == "text" {
		return errors.New(said.sub + ": " + said.msg)
	}
	return err
}

// certificateWords: a handler whose errors, with text output, are the bash tool's words.
func certificateWords[PT request, R result](run func(*call, PT) (R, error)) func(*call, PT) (R, error) {
	return func(c *call, req PT) (R, error) {
		res, err := run(c, req)
		return res, inBashWords(req, err)
	}
}
