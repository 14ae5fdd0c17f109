package main

import (
	"fmt"
	"net/netip"
	"regexp"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// The checks below are ones Envoy makes while it loads a bootstrap and that no protoc-gen-validate
// rule can express: they relate one part of the config to another, or need a parser (RE2, IP
// addresses). Each names the Envoy behaviour it stands for.

// checkReferences: names that must be unique, and names that must exist.
func (c *checker) checkReferences(b *bootstrapv3.Bootstrap) {
	static := b.GetStaticResources()

	// The listener manager refuses a second listener with the same name (a listener without a name
	// gets a generated one).
	listenerAt := map[string]int{}
	for i, l := range static.GetListeners() {
		name := l.GetName()
		if name == "" {
			continue
		}
		if first, dup := listenerAt[name]; dup {
			c.add(fmt.Sprintf("static_resources.listeners[%d].name", i),
				"duplicate listener name %q (also static_resources.listeners[%d]): Envoy refuses a second listener with a name in use", name, first)
			continue
		}
		listenerAt[name] = i
	}

	// The cluster manager refuses a second static cluster with the same name.
	clusterAt := map[string]int{}
	for i, cl := range static.GetClusters() {
		name := cl.GetName()
		if first, dup := clusterAt[name]; dup && name != "" {
			c.add(fmt.Sprintf("static_resources.clusters[%d].name", i),
				"duplicate cluster name %q (also static_resources.clusters[%d]): Envoy refuses a second static cluster with a name in use", name, first)
			continue
		}
		clusterAt[name] = i
	}

	// A static route table (validate_clusters defaults to true for one) may only name clusters the
	// cluster manager has when the listener is built: the static ones.
	for _, r := range c.clusterRefs {
		if _, ok := clusterAt[r.name]; !ok {
			c.add(r.path, "route: unknown %s %q: no cluster of that name in static_resources.clusters", r.what, r.name)
		}
	}

	// An SDS secret config without a config source names a secret in static_resources.secrets.
	secrets := map[string]bool{}
	for _, s := range static.GetSecrets() {
		secrets[s.GetName()] = true
	}
	for _, r := range c.secretRefs {
		if !secrets[r.name] {
			c.add(r.path, "unknown static secret %q: an SDS secret config without sds_config names an entry of static_resources.secrets", r.name)
		}
	}
}

// checkRegex: Envoy compiles a safe_regex with RE2 when it loads the config; Go's regexp package
// implements RE2's syntax (no lookaround, no backreferences). Envoy's program-size limit is not
// checked.
func (c *checker) checkRegex(pattern, path string) {
	if _, err := regexp.Compile(pattern); err != nil {
		c.add(path, "%q is not a valid RE2 regular expression: %v", pattern, err)
	}
}

// checkServerCertificates: a server (downstream) TLS context needs a certificate to present;
// Envoy: "No TLS certificates found for server context".
func (c *checker) checkServerCertificates(ctx *tlsv3.CommonTlsContext, path string) {
	if len(ctx.GetTlsCertificates()) > 0 || len(ctx.GetTlsCertificateSdsSecretConfigs()) > 0 ||
		ctx.GetTlsCertificateProviderInstance() != nil || ctx.GetTlsCertificateCertificateProviderInstance() != nil ||
		ctx.GetCustomTlsCertificateSelector() != nil {
		return
	}
	c.add(path, "No TLS certificates found for server context: a DownstreamTlsContext needs tls_certificates or tls_certificate_sds_secret_configs")
}

// checkCertificate: a TLS certificate is a chain and its private key (or a private key provider), or
// a PKCS#12 bundle; Envoy refuses an incomplete one when it loads the context.
func (c *checker) checkCertificate(cert *tlsv3.TlsCertificate, path string) {
	if cert.GetPkcs12() != nil {
		return
	}
	if cert.GetCertificateChain().GetSpecifier() == nil {
		c.add(joinBase(path, "certificate_chain"), "incomplete certificate: certificate_chain is not set")
	}
	if cert.GetPrivateKey().GetSpecifier() == nil && cert.GetPrivateKeyProvider() == nil {
		c.add(joinBase(path, "private_key"), "incomplete certificate: private_key (or private_key_provider) is not set")
	}
}

// checkSocketAddress: without a resolver_name, Envoy reads a socket address as an IP literal
// ("malformed IP address") everywhere but in the endpoints of a cluster that resolves names.
func (c *checker) checkSocketAddress(a *corev3.SocketAddress, path string, sc scope) {
	if sc.hostnames || a.GetResolverName() != "" || a.GetAddress() == "" {
		return
	}
	if _, err := netip.ParseAddr(a.GetAddress()); err != nil {
		c.add(joinBase(path, "address"),
			"malformed IP address: %q (only the endpoints of a STRICT_DNS or LOGICAL_DNS cluster may be hostnames)", a.GetAddress())
	}
}
