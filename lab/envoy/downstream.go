package main

import (
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

type listenerConf struct {
	name       string
	address    string // host:port
	ipv4Compat bool
	// reusePort: SO_REUSEPORT, Envoy's enable_reuse_port (default true on Linux). Two processes of
	// the same user then share the port, the kernel spreading new connections between them.
	reusePort bool
	tls       bool
	chains    []*chainConf // in order; a chain without server names catches every other name
	fallback  *chainConf   // default_filter_chain
	conn      connSettings // the same on every chain (one http.Server per listener)
}

type chainConf struct {
	serverNames []string // lower case; "*.example" wildcards as written
	hcm         *hcmConf
	tls         *tlsConf // nil on a plaintext listener
}

// connSettings are the connection manager's settings that apply to a connection, not a request.
type connSettings struct {
	idleTimeout, requestTimeout, streamIdleTimeout time.Duration
	maxConcurrentStreams, streamWindow, connWindow uint32
}

type hcmConf struct {
	normalizePath, mergeSlashes, unescapeSlashes, rejectUnderscores, stripPort bool
	virtualHosts                                                               []*virtualHost
	conn                                                                       connSettings
	accessLog                                                                  *jsonAccessLog // nil: no access log
}

type virtualHost struct {
	name    string
	domains []string
	routes  []*routeConf
}

type routeConf struct {
	prefix   string
	cluster  *clusterConf  // a route action, or nil for a redirect
	timeout  time.Duration // 0: none
	retries  int           // reset-before-request retries
	redirect *routev3.RedirectAction
}

var tlsInspectorName = (&tlsinspectorv3.TlsInspector{}).ProtoReflect().Descriptor().FullName()

func (b *builder) listener(l *listenerv3.Listener, path string) {
	lc := &listenerConf{name: l.GetName(), reusePort: l.GetEnableReusePort() == nil || l.GetEnableReusePort().GetValue()}
	lc.address, lc.ipv4Compat = b.address(l.GetAddress(), joinBase(path, "address"))
	for i, f := range l.GetListenerFilters() {
		if f.GetTypedConfig().MessageName() != tlsInspectorName {
			b.refuse(fmt.Sprintf("%s.listener_filters[%d]", path, i), "a listener filter other than envoy.filters.listener.tls_inspector")
		}
	}
	for i, fc := range l.GetFilterChains() {
		lc.chains = append(lc.chains, b.chain(fc, fmt.Sprintf("%s.filter_chains[%d]", path, i)))
	}
	if fc := l.GetDefaultFilterChain(); fc != nil {
		lc.fallback = b.chain(fc, joinBase(path, "default_filter_chain"))
	}
	var first *chainConf
	for _, c := range append(append([]*chainConf{}, lc.chains...), lc.fallback) {
		if c == nil || c.hcm == nil {
			continue
		}
		if first == nil {
			first, lc.tls, lc.conn = c, c.tls != nil, c.hcm.conn
		}
		// One Go http.Server serves a listener: its connection settings, and TLS, must be alike.
		if (c.tls != nil) != lc.tls || c.hcm.conn != lc.conn {
			b.refuse(path, "filter chains with different connection settings or transport sockets on one listener")
			break
		}
		if c.tls == nil && len(c.serverNames) > 0 {
			b.refuse(path, "server_names on a plaintext filter chain")
		}
	}
	if !lc.tls && (len(lc.chains) > 1 || lc.fallback != nil) {
		b.refuse(path, "a plaintext listener with more than one filter chain")
	}
	b.cfg.listeners = append(b.cfg.listeners, lc)
}

func (b *builder) chain(fc *listenerv3.FilterChain, path string) *chainConf {
	c := &chainConf{}
	for _, n := range fc.GetFilterChainMatch().GetServerNames() {
		c.serverNames = append(c.serverNames, strings.ToLower(n))
	}
	filters := fc.GetFilters()
	manager := &hcmv3.HttpConnectionManager{}
	if len(filters) != 1 || !unpack(filters[0].GetTypedConfig(), manager) {
		b.refuse(joinBase(path, "filters"), "network filters other than one envoy.filters.network.http_connection_manager")
		return c
	}
	c.hcm = b.connectionManager(manager, joinBase(path, "filters[0].typed_config"))
	if ts := fc.GetTransportSocket(); ts != nil {
		here := joinBase(path, "transport_socket.typed_config")
		ctx := &tlsv3.DownstreamTlsContext{}
		if !unpack(ts.GetTypedConfig(), ctx) {
			b.refuse(here, "a transport socket other than envoy.transport_sockets.tls with a DownstreamTlsContext")
			return c
		}
		c.tls = b.tlsContext(ctx.GetCommonTlsContext(), joinBase(here, "common_tls_context"))
	}
	return c
}

func (b *builder) connectionManager(m *hcmv3.HttpConnectionManager, path string) *hcmConf {
	if !m.GetUseRemoteAddress().GetValue() {
		b.refuse(joinBase(path, "use_remote_address"), "use_remote_address other than true (the edge proxy's setting)")
	}
	h := &hcmConf{normalizePath: m.GetNormalizePath().GetValue(), mergeSlashes: m.GetMergeSlashes(), stripPort: m.GetStripAnyHostPort()}
	switch m.GetPathWithEscapedSlashesAction() {
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
		h.unescapeSlashes = true
	case hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT, hcmv3.HttpConnectionManager_KEEP_UNCHANGED:
	default:
		b.refuse(joinBase(path, "path_with_escaped_slashes_action"), "%s", m.GetPathWithEscapedSlashesAction())
	}
	common := m.GetCommonHttpProtocolOptions()
	switch common.GetHeadersWithUnderscoresAction() {
	case corev3.HttpProtocolOptions_REJECT_REQUEST:
		h.rejectUnderscores = true
	case corev3.HttpProtocolOptions_ALLOW:
	default:
		b.refuse(joinBase(path, "common_http_protocol_options.headers_with_underscores_action"), "%s", common.GetHeadersWithUnderscoresAction())
	}
	h2 := m.GetHttp2ProtocolOptions()
	h.conn = connSettings{
		idleTimeout:          durationOr(common.GetIdleTimeout(), time.Hour),
		requestTimeout:       durationOr(m.GetRequestTimeout(), 0),
		streamIdleTimeout:    durationOr(m.GetStreamIdleTimeout(), 5*time.Minute),
		maxConcurrentStreams: h2.GetMaxConcurrentStreams().GetValue(),
		streamWindow:         h2.GetInitialStreamWindowSize().GetValue(),
		connWindow:           h2.GetInitialConnectionWindowSize().GetValue(),
	}
	h.accessLog = b.accessLogs(m.GetAccessLog(), joinBase(path, "access_log"))
	filters := m.GetHttpFilters()
	if len(filters) != 1 || filters[0].GetTypedConfig().MessageName() != (&routerv3.Router{}).ProtoReflect().Descriptor().FullName() {
		b.refuse(joinBase(path, "http_filters"), "http filters other than exactly one envoy.filters.http.router")
	}
	rc := m.GetRouteConfig()
	if rc == nil {
		b.refuse(path, "a connection manager without an inline route_config")
		return h
	}
	for i, vh := range rc.GetVirtualHosts() {
		h.virtualHosts = append(h.virtualHosts, b.virtualHost(vh, fmt.Sprintf("%s.route_config.virtual_hosts[%d]", path, i)))
	}
	return h
}

func (b *builder) virtualHost(vh *routev3.VirtualHost, path string) *virtualHost {
	v := &virtualHost{name: vh.GetName()}
	for _, d := range vh.GetDomains() {
		v.domains = append(v.domains, strings.ToLower(d))
	}
	for i, r := range vh.GetRoutes() {
		here := fmt.Sprintf("%s.routes[%d]", path, i)
		rc := &routeConf{prefix: r.GetMatch().GetPrefix(), redirect: r.GetRedirect()}
		if action := r.GetRoute(); action != nil {
			rc.cluster = b.cfg.clusters[action.GetCluster()]
			if rc.cluster == nil {
				b.fail(joinBase(here, "route.cluster"), "unknown cluster %q", action.GetCluster())
			}
			rc.timeout = durationOr(action.GetTimeout(), 15*time.Second)
			if rp := action.GetRetryPolicy(); rp != nil {
				if rp.GetRetryOn() != "reset-before-request" {
					b.refuse(joinBase(here, "route.retry_policy.retry_on"), "retry_on %q (only \"reset-before-request\")", rp.GetRetryOn())
				}
				rc.retries = 1
				if rp.GetNumRetries() != nil {
					rc.retries = int(rp.GetNumRetries().GetValue())
				}
			}
		}
		if r.GetMatch() == nil || r.GetMatch().GetPathSpecifier() == nil {
			b.refuse(joinBase(here, "match"), "a route match other than prefix")
		}
		v.routes = append(v.routes, rc)
	}
	return v
}
