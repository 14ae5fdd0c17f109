package main

import (
	"strings"
	"testing"
)

// sni is the shape render/envoy.ts gives the https listener for SDS certificates: the TLS inspector,
// one chain per certificate picked by server name, and the first one again as the default chain.
const sni = `
static_resources:
  listeners:
    - name: https
      address: { socket_address: { address: "::", port_value: 443 } }
      listener_filters:
        - name: envoy.filters.listener.tls_inspector
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
      filter_chains:
        - filter_chain_match: { server_names: [limen.darc.kr] }
          filters: [` + tcpProxy + `]
          transport_socket: ` + sdsTLS + `
        - filter_chain_match: { server_names: [darc.kr, www.darc.kr] }
          filters: [` + tcpProxy + `]
          transport_socket: ` + sdsTLS + `
      default_filter_chain:
        filters: [` + tcpProxy + `]
        transport_socket: ` + sdsTLS + `
  clusters:
    - name: backend
      type: STATIC
      connect_timeout: 5s
      load_assignment:
        cluster_name: backend
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9444 } } } }] }]
`

const tcpProxy = `{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: tls, cluster: backend } }`

const sdsTLS = `{ name: envoy.transport_sockets.tls, typed_config: { "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: limen, sds_config: { path_config_source: { path: /etc/envoy/sds/limen.yaml, watched_directory: { path: /etc/envoy/sds } }, resource_api_version: V3 } }] } } }`

const secondChain = "static_resources.listeners[0].filter_chains[1].filter_chain_match"

func editSNI(t *testing.T, from, to string) string {
	t.Helper()
	if !strings.Contains(sni, from) {
		t.Fatalf("the SNI bootstrap has no %q", from)
	}
	return strings.Replace(sni, from, to, 1)
}

func TestSNIListenerIsValid(t *testing.T) {
	if got := problemLines(sni); len(got) != 0 {
		t.Fatalf("want no problem, got %q", got)
	}
}

func TestFilterChainsWithTheSameMatchAreRefused(t *testing.T) {
	expectOne(t, editSNI(t, "server_names: [darc.kr, www.darc.kr]", "server_names: [limen.darc.kr]"),
		secondChain, "the same matching rules defined as filter_chains[0]")
	// Two chains without a match are alike too, whether the match is absent or empty.
	input := editSNI(t, "filter_chain_match: { server_names: [limen.darc.kr] }", "filter_chain_match: {}")
	input = strings.Replace(input, "- filter_chain_match: { server_names: [darc.kr, www.darc.kr] }\n          filters:", "- filters:", 1)
	expectOne(t, input, "static_resources.listeners[0].filter_chains[1].filter_chain_match", "the same matching rules defined as filter_chains[0]")
}

func TestFilterChainsThatOverlapAreRefused(t *testing.T) {
	// One name in two chains, spelled in another case: Envoy files server names in lower case.
	expectOne(t, editSNI(t, "server_names: [darc.kr, www.darc.kr]", "server_names: [darc.kr, LIMEN.darc.kr]"),
		secondChain, `overlapping matching rules are defined: this one and filter_chains[0] both match server name "limen.darc.kr"`)
	// A wildcard is filed under its suffix, so two spellings of it collide.
	input := editSNI(t, "server_names: [limen.darc.kr]", `server_names: ["*.darc.kr"]`)
	expectOne(t, strings.Replace(input, "server_names: [darc.kr, www.darc.kr]", `server_names: ["*.DARC.kr", darc.kr]`, 1),
		secondChain, `both match server name ".darc.kr"`)
	// Different criteria in another dimension keep the chains apart.
	apart := editSNI(t, "server_names: [darc.kr, www.darc.kr]", "server_names: [limen.darc.kr], source_prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }]")
	if got := problemLines(apart); len(got) != 0 {
		t.Fatalf("chains that differ in source range are refused: %q", got)
	}
	// ... unless the ranges are one range once masked, as Envoy stores them.
	input = editSNI(t, "server_names: [limen.darc.kr] }", "server_names: [limen.darc.kr], source_prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }")
	expectOne(t, strings.Replace(input, "server_names: [darc.kr, www.darc.kr]", "server_names: [limen.darc.kr], source_prefix_ranges: [{ address_prefix: 10.1.2.3, prefix_len: 8 }]", 1),
		secondChain, `server name "limen.darc.kr", source IP "10.0.0.0/8"`)
}

func TestPartialWildcardServerNameIsRefused(t *testing.T) {
	expectOne(t, editSNI(t, "server_names: [darc.kr, www.darc.kr]", `server_names: [darc.kr, "w*.darc.kr"]`),
		"static_resources.listeners[0].filter_chains[1].filter_chain_match.server_names[1]", "partial wildcards are not supported")
}

func TestServerNamesNeedTheTLSInspector(t *testing.T) {
	without := editSNI(t, `      listener_filters:
        - name: envoy.filters.listener.tls_inspector
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
`, "")
	expectOne(t, without, "static_resources.listeners[0].listener_filters", "needs the envoy.filters.listener.tls_inspector listener filter")
	// A listener filter of an unlinked type is refused as unknown, as Envoy refuses an extension it lacks.
	expectOne(t, editSNI(t, "tls_inspector.v3.TlsInspector }", "tls_inspector.v3.TlsInspektor }"),
		"static_resources.listeners[0].listener_filters[0].typed_config.@type", "unable to resolve")
}

func TestDefaultFilterChainIsChecked(t *testing.T) {
	at := strings.LastIndex(sni, sdsTLS)
	noCert := sni[:at] + `{ name: envoy.transport_sockets.tls, typed_config: { "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext } }` + sni[at+len(sdsTLS):]
	expectOne(t, noCert, "static_resources.listeners[0].default_filter_chain.transport_socket.typed_config.common_tls_context", "No TLS certificates found")
}
