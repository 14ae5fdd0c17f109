package main

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// notImplemented is the phrase every refusal of the stand-in carries, so that a reader (and the
// lab's tests) can tell it from a problem real Envoy would report.
const notImplemented = "not implemented by the lab's stand-in Envoy"

// implemented lists, per message type, the fields the stand-in serves. It is the whole surface: a
// field that is set and not listed here is refused with its path, so a field the renderer adds later
// fails at start (and in validate mode) until someone implements it here and in the server. The
// values of these fields are held to what is implemented by config.go.
var implemented = map[protoreflect.FullName][]string{
	"envoy.config.bootstrap.v3.Bootstrap":                  {"node", "admin", "layered_runtime", "static_resources", "dynamic_resources"},
	"envoy.config.bootstrap.v3.Bootstrap.DynamicResources": {"lds_config", "cds_config"},
	"envoy.config.core.v3.Node":                            {"id", "cluster"},
	"envoy.config.bootstrap.v3.Bootstrap.StaticResources":  {"listeners", "clusters"},
	"envoy.config.bootstrap.v3.Admin":                      {"address"},
	"envoy.config.bootstrap.v3.LayeredRuntime":             {"layers"},
	// static_layer is a Struct: its keys are held to the one runtime key implemented by config.go.
	"envoy.config.bootstrap.v3.RuntimeLayer": {"name", "static_layer"},
	"envoy.config.core.v3.Address":           {"socket_address", "pipe"},
	"envoy.config.core.v3.Pipe":              {"path", "mode"},
	"envoy.config.core.v3.SocketAddress":     {"address", "port_value", "ipv4_compat"},

	"envoy.config.listener.v3.Listener":         {"name", "address", "per_connection_buffer_limit_bytes", "listener_filters", "filter_chains", "default_filter_chain", "enable_reuse_port"},
	"envoy.config.listener.v3.ListenerFilter":   {"name", "typed_config"},
	"envoy.config.listener.v3.FilterChain":      {"filter_chain_match", "filters", "transport_socket"},
	"envoy.config.listener.v3.FilterChainMatch": {"server_names"},
	"envoy.config.listener.v3.Filter":           {"name", "typed_config"},
	"envoy.config.core.v3.TransportSocket":      {"name", "typed_config"},

	"envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": {},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": {
		"stat_prefix", "use_remote_address", "normalize_path", "merge_slashes", "path_with_escaped_slashes_action",
		"common_http_protocol_options", "http2_protocol_options", "stream_idle_timeout", "request_timeout",
		"strip_any_host_port", "route_config", "http_filters", "access_log",
	},
	"envoy.config.accesslog.v3.AccessLog":                                    {"name", "typed_config"},
	"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog":              {"log_format"},
	"envoy.config.core.v3.SubstitutionFormatString":                          {"json_format"},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter": {"name", "typed_config"},
	"envoy.extensions.filters.http.router.v3.Router":                         {},
	// headers_with_underscores_action is refused on a cluster by config.go (downstream only here).
	"envoy.config.core.v3.HttpProtocolOptions":  {"idle_timeout", "max_requests_per_connection", "headers_with_underscores_action"},
	"envoy.config.core.v3.Http2ProtocolOptions": {"max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size"},
	"envoy.config.core.v3.Http1ProtocolOptions": {},

	"envoy.config.route.v3.RouteConfiguration": {"name", "virtual_hosts"},
	"envoy.config.route.v3.VirtualHost":        {"name", "domains", "routes"},
	"envoy.config.route.v3.Route":              {"match", "route", "redirect"},
	"envoy.config.route.v3.RouteMatch":         {"prefix"},
	"envoy.config.route.v3.RouteAction":        {"cluster", "timeout", "retry_policy"},
	"envoy.config.route.v3.RetryPolicy":        {"retry_on", "num_retries"},
	"envoy.config.route.v3.RedirectAction":     {"https_redirect", "port_redirect"},

	"envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": {"common_tls_context"},
	"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext":     {"tls_params", "alpn_protocols", "tls_certificates", "tls_certificate_sds_secret_configs"},
	"envoy.extensions.transport_sockets.tls.v3.TlsParameters":        {"tls_minimum_protocol_version"},
	// watched_directory: implemented in an SDS file's Secret only (config.go refuses it in the bootstrap).
	"envoy.extensions.transport_sockets.tls.v3.TlsCertificate":  {"certificate_chain", "private_key", "watched_directory"},
	"envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig": {"name", "sds_config"},
	"envoy.extensions.transport_sockets.tls.v3.Secret":          {"name", "tls_certificate"},
	"envoy.config.core.v3.DataSource":                           {"filename"},
	"envoy.config.core.v3.ConfigSource":                         {"path_config_source", "resource_api_version"},
	"envoy.config.core.v3.PathConfigSource":                     {"path", "watched_directory"},
	"envoy.config.core.v3.WatchedDirectory":                     {"path"},

	"envoy.config.cluster.v3.Cluster":                                           {"name", "type", "connect_timeout", "per_connection_buffer_limit_bytes", "load_assignment", "typed_extension_protocol_options"},
	"envoy.config.endpoint.v3.ClusterLoadAssignment":                            {"cluster_name", "endpoints"},
	"envoy.config.endpoint.v3.LocalityLbEndpoints":                              {"lb_endpoints"},
	"envoy.config.endpoint.v3.LbEndpoint":                                       {"endpoint"},
	"envoy.config.endpoint.v3.Endpoint":                                         {"address"},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions":                    {"common_http_protocol_options", "explicit_http_config"},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig": {"http_protocol_options"},
}

// leaves are the well-known types whose content is a value (a duration, a wrapped scalar), not
// fields to judge; a Struct is only allowed where config.go reads it (the runtime layer).
var leaves = map[protoreflect.FullName]bool{
	"google.protobuf.Duration": true, "google.protobuf.UInt32Value": true, "google.protobuf.BoolValue": true,
	"google.protobuf.Struct": true,
}

// unimplementedFields walks m (a parsed bootstrap or SDS Secret) and returns a problem for every set
// field the stand-in does not implement, opening each typed_config by its type URL. A type_url
// whose type is not in the table is refused as a whole.
func unimplementedFields(m proto.Message, path string) []Problem {
	w := &allowWalk{}
	w.message(m.ProtoReflect(), path)
	return w.problems
}

type allowWalk struct{ problems []Problem }

func (w *allowWalk) refuse(path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...) + ": " + notImplemented})
}

func (w *allowWalk) message(m protoreflect.Message, path string) {
	name := m.Descriptor().FullName()
	if leaves[name] {
		return
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: strict.Resolver})
		if err != nil {
			w.refuse(joinBase(path, "@type"), "cannot open %s (%v)", a.GetTypeUrl(), err)
			return
		}
		w.message(inner.ProtoReflect(), path)
		return
	}
	fields, known := implemented[name]
	if !known {
		w.refuse(path, "message type %s", name)
		return
	}
	allowed := map[protoreflect.Name]bool{}
	for _, f := range fields {
		allowed[protoreflect.Name(f)] = true
	}
	// Range visits fields in an undefined order; sort them so that the report is stable.
	var set []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		set = append(set, fd)
		return true
	})
	sort.Slice(set, func(a, b int) bool { return set[a].Number() < set[b].Number() })
	for _, fd := range set {
		here := joinBase(path, string(fd.Name()))
		if !allowed[fd.Name()] {
			w.refuse(here, "field %s.%s", name, fd.Name())
			continue
		}
		w.value(m, fd, here)
	}
}

func (w *allowWalk) value(m protoreflect.Message, fd protoreflect.FieldDescriptor, here string) {
	switch {
	case fd.IsList():
		if fd.Message() == nil {
			return
		}
		list := m.Get(fd).List()
		for i := 0; i < list.Len(); i++ {
			w.message(list.Get(i).Message(), fmt.Sprintf("%s[%d]", here, i))
		}
	case fd.IsMap():
		if fd.MapValue().Message() == nil {
			return
		}
		var keys []protoreflect.MapKey
		m.Get(fd).Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
		for _, k := range keys {
			w.message(m.Get(fd).Map().Get(k).Message(), joinPath(here, k.String()))
		}
	case fd.Message() != nil:
		w.message(m.Get(fd).Message(), here)
	}
}
