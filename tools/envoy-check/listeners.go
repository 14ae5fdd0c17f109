package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/proto"
)

// The rules Envoy's filter chain manager (source/common/listener_manager/filter_chain_manager_impl.cc)
// applies when it adds a listener's filter chains, and one it does not (the TLS inspector).

var tlsInspectorTypeURL = "type.googleapis.com/" + string((&tlsinspectorv3.TlsInspector{}).ProtoReflect().Descriptor().FullName())

// matchDimensions are the levels of Envoy's filter chain lookup tree, in its order. A chain is filed
// under every combination of its values; an empty list is filed under the catch-all key.
var matchDimensions = []string{
	"destination port", "destination IP", "server name", "transport protocol", "application protocol",
	"direct source IP", "source type", "source IP", "source port",
}

// checkFilterChains: with no filter_chain_matcher (which picks chains by name instead), Envoy refuses
// two chains whose filter_chain_match messages are equal ("has the same matching rules defined as"),
// two chains filed under one leaf of its lookup tree ("multiple filter chains with overlapping
// matching rules are defined"), and a server name with a partial wildcard.
//
// Stricter than Envoy: a chain with server_names on a listener without the TLS inspector is refused.
// Envoy loads it, but no longer inserts the inspector by itself (envoyproxy/envoy#13601), so no
// connection carries an SNI, such a chain never matches, and every client gets the default chain.
func (c *checker) checkFilterChains(l *listenerv3.Listener, path string) {
	chains := l.GetFilterChains()
	if l.GetFilterChainMatcher() == nil {
		leaves := make([][][]string, len(chains))
		for i, fc := range chains {
			here := fmt.Sprintf("%s[%d]", joinBase(path, "filter_chains"), i)
			match := fc.GetFilterChainMatch()
			if match == nil {
				// Envoy compares the default message for a chain without one.
				match = &listenerv3.FilterChainMatch{}
			}
			for k, name := range match.GetServerNames() {
				if strings.Contains(name, "*") && !strings.HasPrefix(name, "*.") {
					c.add(fmt.Sprintf("%s.filter_chain_match.server_names[%d]", here, k),
						"partial wildcards are not supported in \"server_names\": %q (only a leading \"*.\")", name)
				}
			}
			leaves[i] = matchKeys(match)
			for j := 0; j < i; j++ {
				other := chains[j].GetFilterChainMatch()
				if other == nil {
					other = &listenerv3.FilterChainMatch{}
				}
				if proto.Equal(match, other) {
					c.add(joinBase(here, "filter_chain_match"),
						"filter chain has the same matching rules defined as filter_chains[%d]: Envoy refuses a listener with two filter chains that match alike", j)
					break
				}
				if shared, ok := sharedLeaf(leaves[i], leaves[j]); ok {
					c.add(joinBase(here, "filter_chain_match"),
						"multiple filter chains with overlapping matching rules are defined: this one and filter_chains[%d] both match %s", j, shared)
					break
				}
			}
		}
	}

	if hasTLSInspector(l) {
		return
	}
	for i, fc := range chains {
		if len(fc.GetFilterChainMatch().GetServerNames()) > 0 {
			c.add(joinBase(path, "listener_filters"),
				"filter_chains[%d] matches server_names, which needs the envoy.filters.listener.tls_inspector listener filter: without it no connection has an SNI and the chain never matches", i)
			return
		}
	}
}

func hasTLSInspector(l *listenerv3.Listener) bool {
	for _, f := range l.GetListenerFilters() {
		if f.GetTypedConfig().GetTypeUrl() == tlsInspectorTypeURL {
			return true
		}
	}
	return false
}

// matchKeys lists, per dimension, the keys Envoy files a chain under, normalised as Envoy does
// (server names in lower case, "*.example.com" as ".example.com", CIDR ranges masked).
func matchKeys(m *listenerv3.FilterChainMatch) [][]string {
	orAny := func(keys []string) []string {
		if len(keys) == 0 {
			return []string{""}
		}
		return keys
	}
	cidrs := func(ranges []*corev3.CidrRange) []string {
		var keys []string
		for _, r := range ranges {
			keys = append(keys, cidrKey(r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
		}
		return orAny(keys)
	}
	var names []string
	for _, n := range m.GetServerNames() {
		n = strings.ToLower(n)
		if strings.HasPrefix(n, "*.") {
			n = n[1:]
		}
		names = append(names, n)
	}
	var sourcePorts []string
	for _, p := range m.GetSourcePorts() {
		sourcePorts = append(sourcePorts, strconv.FormatUint(uint64(p), 10))
	}
	return [][]string{
		{strconv.FormatUint(uint64(m.GetDestinationPort().GetValue()), 10)},
		cidrs(m.GetPrefixRanges()),
		orAny(names),
		{m.GetTransportProtocol()},
		orAny(m.GetApplicationProtocols()),
		cidrs(m.GetDirectSourcePrefixRanges()),
		{m.GetSourceType().String()},
		cidrs(m.GetSourcePrefixRanges()),
		orAny(sourcePorts),
	}
}

// cidrKey is Envoy's CidrRange::asString: the address with the host bits cleared. A range that does
// not parse keeps its spelling (Envoy refuses it; that is not checked here).
func cidrKey(prefix string, length uint32) string {
	p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", prefix, length))
	if err != nil {
		return fmt.Sprintf("%s/%d", prefix, length)
	}
	return p.Masked().String()
}

// sharedLeaf: two chains share a leaf of the lookup tree when their keys meet in every dimension; it
// describes the leaf by the dimensions that are not catch-all.
func sharedLeaf(a, b [][]string) (string, bool) {
	var parts []string
	for d := range a {
		common, ok := firstCommon(a[d], b[d])
		if !ok {
			return "", false
		}
		if common != catchAll(d) {
			parts = append(parts, fmt.Sprintf("%s %q", matchDimensions[d], common))
		}
	}
	if len(parts) == 0 {
		return "every connection", true
	}
	return strings.Join(parts, ", "), true
}

// catchAll is the key of dimension d that a chain without a criterion there is filed under.
func catchAll(d int) string {
	switch matchDimensions[d] {
	case "destination port":
		return "0"
	case "source type":
		return listenerv3.FilterChainMatch_ANY.String()
	}
	return ""
}

func firstCommon(a, b []string) (string, bool) {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return x, true
			}
		}
	}
	return "", false
}
