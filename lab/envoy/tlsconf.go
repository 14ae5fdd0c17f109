package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

type tlsConf struct {
	minVersion uint16
	alpn       []string
	cert       func() *tls.Certificate
}

func (b *builder) tlsContext(ctx *tlsv3.CommonTlsContext, path string) *tlsConf {
	t := &tlsConf{minVersion: tls.VersionTLS12, alpn: ctx.GetAlpnProtocols()}
	switch v := ctx.GetTlsParams().GetTlsMinimumProtocolVersion(); v {
	case tlsv3.TlsParameters_TLS_AUTO, tlsv3.TlsParameters_TLSv1_2:
	case tlsv3.TlsParameters_TLSv1_3:
		t.minVersion = tls.VersionTLS13
	default:
		b.refuse(joinBase(path, "tls_params.tls_minimum_protocol_version"), "%s (only TLSv1_2, TLSv1_3)", v)
	}
	for i, p := range t.alpn {
		if p != "h2" && p != "http/1.1" {
			b.refuse(fmt.Sprintf("%s.alpn_protocols[%d]", path, i), "ALPN protocol %q (only h2, http/1.1)", p)
		}
	}
	files, sds := ctx.GetTlsCertificates(), ctx.GetTlsCertificateSdsSecretConfigs()
	if len(files)+len(sds) != 1 {
		b.refuse(path, "a TLS context with other than one certificate")
		return t
	}
	if len(files) == 1 {
		here := joinBase(path, "tls_certificates[0]")
		if files[0].GetWatchedDirectory() != nil {
			b.refuse(joinBase(here, "watched_directory"), "watched_directory in the bootstrap (only in an SDS file)")
		}
		pair, err := loadPair(files[0])
		if err != nil {
			b.fail(here, "%v", err)
		}
		t.cert = func() *tls.Certificate { return pair }
		return t
	}
	here := joinBase(path, "tls_certificate_sds_secret_configs[0]")
	source := sds[0].GetSdsConfig()
	if source.GetPathConfigSource() == nil {
		b.refuse(joinBase(here, "sds_config"), "an SDS secret not read from a path_config_source")
		return t
	}
	if source.GetResourceApiVersion() != corev3.ApiVersion_V3 {
		b.refuse(joinBase(here, "sds_config.resource_api_version"), "%s (only V3)", source.GetResourceApiVersion())
	}
	file := source.GetPathConfigSource().GetPath()
	key := sds[0].GetName() + "\x00" + file
	secret := b.secrets[key]
	if secret == nil {
		secret = &sdsSecret{name: sds[0].GetName(), file: file}
		if wd := source.GetPathConfigSource().GetWatchedDirectory(); wd != nil {
			secret.fileDir = wd.GetPath()
		}
		// Envoy: "The path to the source must exist at config load time."
		if _, err := os.Stat(file); err != nil {
			b.fail(joinBase(here, "sds_config.path_config_source.path"), "paths must refer to an existing path in the system: '%s' does not exist", file)
			return t
		}
		// Stricter than Envoy, which would start and serve this chain without a certificate until a
		// valid file is moved in: the stand-in loads the Secret and its pair now, or refuses.
		if err := secret.load(); err != nil {
			b.fail(joinBase(here, "sds_config.path_config_source.path"), "%v", err)
			return t
		}
		b.secrets[key] = secret
	}
	t.cert = secret.cert.Load
	return t
}

// loadPair reads a certificate's chain and key files, as Envoy does when it builds the TLS context.
func loadPair(c *tlsv3.TlsCertificate) (*tls.Certificate, error) {
	chain, key := c.GetCertificateChain().GetFilename(), c.GetPrivateKey().GetFilename()
	if chain == "" || key == "" {
		return nil, errors.New("the certificate chain and private key must be named by filename: " + notImplemented)
	}
	pair, err := tls.LoadX509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("failed to load the certificate pair %s, %s: %v", chain, key, err)
	}
	return &pair, nil
}

// sdsSecret is one certificate read from an SDS file, reloaded when a watched directory changes.
type sdsSecret struct {
	name, file string
	fileDir    string   // path_config_source.watched_directory ("" : the file's own directory)
	pairDirs   []string // tls_certificate.watched_directory, else the directories of the pair
	cert       atomic.Pointer[tls.Certificate]
	seen       string // fingerprint of the watched directories at the last load
}

// load reads the SDS file as envoy-check's CheckSDS judges it, holds the Secret to the allowlist
// and loads its pair.
func (s *sdsSecret) load() error {
	seen := s.fingerprint()
	input, err := os.ReadFile(s.file)
	if err != nil {
		return err
	}
	if problems := CheckSDS(input, s.name); len(problems) > 0 {
		return fmt.Errorf("SDS file %s: %s", s.file, problems[0])
	}
	root, err := envoyYAMLToTree(input)
	if err != nil {
		return err
	}
	for k, key := range root.keys {
		if key != "resources" {
			continue
		}
		resource, secret := &anypb.Any{}, &tlsv3.Secret{}
		if problems := parseInto(root.items[k].items[0], resource, "resources[0]"); len(problems) > 0 || resource.UnmarshalTo(secret) != nil {
			return fmt.Errorf("SDS file %s: the Secret does not parse", s.file)
		}
		if problems := unimplementedFields(secret, "resources[0]"); len(problems) > 0 {
			return fmt.Errorf("SDS file %s: %s", s.file, problems[0])
		}
		pair, err := loadPair(secret.GetTlsCertificate())
		if err != nil {
			return fmt.Errorf("SDS file %s: %v", s.file, err)
		}
		cert := secret.GetTlsCertificate()
		s.pairDirs = []string{filepath.Dir(cert.GetCertificateChain().GetFilename()), filepath.Dir(cert.GetPrivateKey().GetFilename())}
		if wd := cert.GetWatchedDirectory(); wd != nil {
			s.pairDirs = []string{wd.GetPath()}
		}
		s.cert.Store(pair)
		s.seen = seen
		if seen != s.fingerprint() {
			s.seen = "" // changed while it was read: read again at the next poll
		}
		return nil
	}
	return fmt.Errorf("SDS file %s: no resources", s.file)
}

// fingerprint names every entry of the watched directories with its inode (and a symlink's
// target): a move into a directory (Envoy's trigger, e.g. `mv -T` of a new `current` link)
// changes it; a write into an existing file does not, as it does not trigger Envoy either.
func (s *sdsSecret) fingerprint() string {
	dirs := append([]string{s.fileDir}, s.pairDirs...)
	if s.fileDir == "" {
		dirs[0] = filepath.Dir(s.file)
	}
	var b strings.Builder
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, name := range names {
			full := filepath.Join(dir, name)
			fi, err := os.Lstat(full)
			if err != nil {
				continue
			}
			target, _ := os.Readlink(full)
			ino := uint64(0)
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				ino = st.Ino
			}
			fmt.Fprintf(&b, "%s\x00%d\x00%s\n", full, ino, target)
		}
	}
	return b.String()
}

// watchSecrets polls the SDS secrets' directories every second until stop is closed. An update
// that fails keeps the certificate served, as Envoy rejects a bad filesystem config update.
func watchSecrets(secrets []*sdsSecret, stop <-chan struct{}) {
	everySecond(stop, func() {
		for _, s := range secrets {
			if s.fingerprint() == s.seen {
				continue
			}
			if err := s.load(); err != nil {
				s.seen = s.fingerprint()
				log.Printf("SDS secret %q: update rejected, keeping the certificate served: %v", s.name, err)
				continue
			}
			log.Printf("SDS secret %q: reloaded from %s", s.name, s.file)
		}
	})
}

// everySecond runs poll once a second until stop is closed: the stand-in's file watching (Envoy's
// own is inotify; README "What only real Envoy can show").
func everySecond(stop <-chan struct{}, poll func()) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			poll()
		}
	}
}

// chainFor picks a filter chain by SNI as Envoy's filter chain manager does: an exact server name,
// then the longest "*.suffix" wildcard, then a chain without server names, then the default chain.
func (l *listenerConf) chainFor(serverName string) *chainConf {
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	match := func(want string) *chainConf {
		for _, c := range l.chains {
			for _, n := range c.serverNames {
				if n == want {
					return c
				}
			}
		}
		return nil
	}
	if name != "" {
		if c := match(name); c != nil {
			return c
		}
		for i := strings.IndexByte(name, '.'); i >= 0; {
			if c := match("*" + name[i:]); c != nil {
				return c
			}
			next := strings.IndexByte(name[i+1:], '.')
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	for _, c := range l.chains {
		if len(c.serverNames) == 0 {
			return c
		}
	}
	return l.fallback
}

// serverTLS hands each handshake the certificate and parameters of the chain its SNI picks; a
// handshake no chain takes is closed, as Envoy closes a connection without a matching chain.
func (l *listenerConf) serverTLS() *tls.Config {
	return &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := l.chainFor(hello.ServerName)
		if c == nil || c.tls == nil || c.tls.cert == nil || c.tls.cert() == nil {
			return nil, fmt.Errorf("no filter chain or certificate for server name %q", hello.ServerName)
		}
		return &tls.Config{Certificates: []tls.Certificate{*c.tls.cert()}, MinVersion: c.tls.minVersion, NextProtos: c.tls.alpn}, nil
	}}
}
