package main

import (
	"strings"
	"testing"
)

// minimal is the smallest bootstrap shaped like the rendered one: one HTTPS listener with a route
// table, one static cluster.
const minimal = `
static_resources:
  listeners:
    - name: https
      address: { socket_address: { address: "::", port_value: 443 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
                route_config:
                  name: sites
                  virtual_hosts:
                    - name: site
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          route: { cluster: backend }
          transport_socket:
            name: envoy.transport_sockets.tls
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
              common_tls_context:
                tls_certificates:
                  - certificate_chain: { filename: /etc/tls/chain.pem }
                    private_key: { filename: /etc/tls/key.pem }
  clusters:
    - name: backend
      type: STATIC
      connect_timeout: 5s
      load_assignment:
        cluster_name: backend
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 192.0.2.100, port_value: 18443 } } } }] }]
`

const routePath = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]"

func edit(t *testing.T, from, to string) string {
	t.Helper()
	if !strings.Contains(minimal, from) {
		t.Fatalf("the minimal bootstrap has no %q", from)
	}
	return strings.Replace(minimal, from, to, 1)
}

func problemLines(input string) []string {
	var out []string
	for _, p := range Check([]byte(input)) {
		out = append(out, p.String())
	}
	return out
}

// expectOne asserts exactly one problem, at path, whose message contains want.
func expectOne(t *testing.T, input, path, want string) {
	t.Helper()
	got := Check([]byte(input))
	if len(got) != 1 || got[0].Path != path || !strings.Contains(got[0].Message, want) {
		t.Fatalf("want one problem at %s containing %q, got %q", path, want, problemLines(input))
	}
}

func TestMinimalIsValid(t *testing.T) {
	if got := problemLines(minimal); len(got) != 0 {
		t.Fatalf("want no problem, got %q", got)
	}
}

func TestRouteToMissingCluster(t *testing.T) {
	expectOne(t, edit(t, "route: { cluster: backend }", "route: { cluster: backnd }"),
		routePath+".route.cluster", `unknown cluster "backnd"`)
}

func TestWeightedAndMirrorClustersMustExist(t *testing.T) {
	input := edit(t, "route: { cluster: backend }", `route:
                            weighted_clusters: { clusters: [{ name: backend, weight: 1 }, { name: canary, weight: 1 }] }
                            request_mirror_policies: [{ cluster: shadow }]`)
	got := problemLines(input)
	if len(got) != 2 || !strings.Contains(got[0], `weighted_clusters.clusters[1].name: route: unknown weighted cluster "canary"`) ||
		!strings.Contains(got[1], `request_mirror_policies[0].cluster: route: unknown mirror cluster "shadow"`) {
		t.Fatalf("got %q", got)
	}
}

func TestValidateClustersFalseSkipsTheCheck(t *testing.T) {
	input := edit(t, "name: sites\n", "name: sites\n                  validate_clusters: false\n")
	input = strings.Replace(input, "route: { cluster: backend }", "route: { cluster: later }", 1)
	if got := problemLines(input); len(got) != 0 {
		t.Fatalf("want no problem, got %q", got)
	}
}

func TestDuplicateListenerAndClusterNames(t *testing.T) {
	input := strings.Replace(minimal, "  clusters:\n", `    - name: https
      address: { socket_address: { address: "::", port_value: 8443 } }
      filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: tcp, cluster: backend } }] }]
  clusters:
    - name: backend
      connect_timeout: 1s
`, 1)
	got := problemLines(input)
	if len(got) != 2 || !strings.HasPrefix(got[0], `static_resources.listeners[1].name: duplicate listener name "https" (also static_resources.listeners[0])`) ||
		!strings.HasPrefix(got[1], `static_resources.clusters[1].name: duplicate cluster name "backend" (also static_resources.clusters[0])`) {
		t.Fatalf("got %q", got)
	}
}

func TestRegexMustBeRE2(t *testing.T) {
	expectOne(t, edit(t, `match: { prefix: "/" }`, `match: { safe_regex: { regex: "^/(?!admin)" } }`),
		routePath+".match.safe_regex.regex", "not a valid RE2 regular expression")
	expectOne(t, edit(t, `match: { prefix: "/" }`, `match: { safe_regex: { regex: "^/(a|b)\\1" } }`),
		routePath+".match.safe_regex.regex", "not a valid RE2 regular expression")
	if got := problemLines(edit(t, `match: { prefix: "/" }`, `match: { safe_regex: { regex: "^/api/[a-z]+(/.*)?$" } }`)); len(got) != 0 {
		t.Fatalf("an RE2 regex is refused: %q", got)
	}
}

func TestServerTLSNeedsACertificate(t *testing.T) {
	tls := "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context"
	input := edit(t, `                tls_certificates:
                  - certificate_chain: { filename: /etc/tls/chain.pem }
                    private_key: { filename: /etc/tls/key.pem }
`, "                alpn_protocols: [h2]\n")
	expectOne(t, input, tls, "No TLS certificates found for server context")

	sds := edit(t, `                tls_certificates:
                  - certificate_chain: { filename: /etc/tls/chain.pem }
                    private_key: { filename: /etc/tls/key.pem }
`, "                tls_certificate_sds_secret_configs: [{ name: server_cert }]\n")
	expectOne(t, sds, tls+".tls_certificate_sds_secret_configs[0].name", `unknown static secret "server_cert"`)
	withSecret := strings.Replace(sds, "  clusters:\n", `  secrets:
    - name: server_cert
      tls_certificate: { certificate_chain: { filename: /c.pem }, private_key: { filename: /k.pem } }
  clusters:
`, 1)
	if got := problemLines(withSecret); len(got) != 0 {
		t.Fatalf("want no problem with the secret defined, got %q", got)
	}

	expectOne(t, edit(t, "                    private_key: { filename: /etc/tls/key.pem }\n", ""),
		tls+".tls_certificates[0].private_key", "incomplete certificate")
}

func TestStaticAddressesAreIPLiterals(t *testing.T) {
	endpoint := "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address"
	for _, bad := range []string{"localhost", "127.1", "0x7f.0.0.1", `"2130706433"`, "backend.internal"} {
		expectOne(t, edit(t, "address: 192.0.2.100", "address: "+bad), endpoint, "malformed IP address")
	}
	for _, good := range []string{"127.0.0.1", `"::1"`, `"::ffff:127.0.0.1"`, `"2001:DB8:0:0::100"`} {
		if got := problemLines(edit(t, "address: 192.0.2.100", "address: "+good)); len(got) != 0 {
			t.Fatalf("%s refused: %q", good, got)
		}
	}
	dns := edit(t, "type: STATIC", "type: STRICT_DNS")
	if got := problemLines(strings.Replace(dns, "address: 192.0.2.100", "address: backend.internal", 1)); len(got) != 0 {
		t.Fatalf("a STRICT_DNS endpoint hostname is refused: %q", got)
	}
	expectOne(t, edit(t, `address: "::", port_value: 443`, `address: "*", port_value: 443`),
		"static_resources.listeners[0].address.socket_address.address", "malformed IP address")
}

func TestYAMLScalarsAsEnvoyReadsThem(t *testing.T) {
	// yaml-cpp reads an unquoted "on" as a bool; quoted, it is a string.
	expectOne(t, edit(t, "stat_prefix: ingress", "stat_prefix: on"),
		"static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix", "invalid value for string field")
	if got := problemLines(edit(t, "stat_prefix: ingress", `stat_prefix: "on"`)); len(got) != 0 {
		t.Fatalf("a quoted on is refused: %q", got)
	}
	// Hex integers are integers; enum names are read case-insensitively.
	if got := problemLines(edit(t, "port_value: 18443", "port_value: 0x4813")); len(got) != 0 {
		t.Fatalf("a hex port is refused: %q", got)
	}
	if got := problemLines(edit(t, "type: STATIC", "type: static")); len(got) != 0 {
		t.Fatalf("a lower-case enum name is refused: %q", got)
	}
	// No merge keys in yaml-cpp: "<<" is a field name, and an unknown one.
	expectOne(t, edit(t, "connect_timeout: 5s", "connect_timeout: 5s\n      <<: { dns_lookup_family: V4_ONLY }"),
		`static_resources.clusters[0]["<<"]`, `unknown field "<<"`)
	// !ignore drops a key (a place to keep anchors).
	if got := problemLines(edit(t, "static_resources:", "!ignore defaults: { x: 1 }\nstatic_resources:")); len(got) != 0 {
		t.Fatalf("an !ignore key is not ignored: %q", got)
	}
}

func TestCppStreamInt64(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42": 42, "+7": 7, "-12": -12, "0x1F": 31, "010": 8, "9223372036854775807": 1<<63 - 1} {
		if got, ok := cppStreamInt64(in); !ok || got != want {
			t.Errorf("%q: got %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "08", "1.5", "1e3", "0x", "12ab", "1_000", "9223372036854775808", "- 1"} {
		if got, ok := cppStreamInt64(in); ok {
			t.Errorf("%q: read as %d, want not an integer", in, got)
		}
	}
}

func TestEveryParseProblemIsListed(t *testing.T) {
	input := edit(t, "static_resources:", "bogus: 1\nstatic_resources:")
	input = strings.Replace(input, "port_value: 18443", "port_value: abc", 1)
	got := problemLines(input)
	if len(got) != 2 || !strings.HasPrefix(got[0], `bogus: unknown field "bogus" (line 2)`) ||
		!strings.Contains(got[1], `socket_address.port_value: invalid value for uint32 field portValue: "abc"`) {
		t.Fatalf("got %q", got)
	}
}

func TestRun(t *testing.T) {
	var out, errs strings.Builder
	if code := run(nil, strings.NewReader(minimal), &out, &errs); code != 0 || out.String() != "ok\n" {
		t.Fatalf("valid: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}
	out.Reset()
	if code := run([]string{"-"}, strings.NewReader("static_resources: { bogus: 1 }\n"), &out, &errs); code != 1 ||
		out.String() != "static_resources.bogus: unknown field \"bogus\" (line 1)\n" {
		t.Fatalf("invalid: exit %d, stdout %q", code, out.String())
	}
	if code := run([]string{"--bogus"}, strings.NewReader(""), &out, &errs); code != 2 {
		t.Fatalf("usage: exit %d", code)
	}
}
