package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// config is what the stand-in serves, read from a bootstrap that passed envoy-check's Check and
// the allowlist walk (allow.go). Building it refuses the values of allowed fields that are not
// implemented, and loads the certificate files, as Envoy does at config time.
type config struct {
	admin     string     // host:port of the admin listener, "" for none (or adminPipe)
	adminPipe *adminPipe // the admin on a unix socket instead (Address.pipe)
	maxConns  int64      // overload.global_downstream_max_connections, 0 for no cap
	listeners []*listenerConf
	clusters  map[string]*clusterConf
	secrets   []*sdsSecret // every SDS secret, polled for rotation
	dynamic   *dynamicConf // listeners and clusters from LDS and CDS files, nil for static ones
}

// adminPipe is the admin's unix socket: its path, and its mode (0: as the umask leaves it).
type adminPipe struct {
	path string
	mode os.FileMode
}

type clusterConf struct {
	name           string
	endpoint       string // host:port
	connectTimeout time.Duration
	idleTimeout    time.Duration // upstream keep-alive idle timeout
	// oneRequestPerConnection: max_requests_per_connection 1, a new connection for every request.
	oneRequestPerConnection bool
}

// builder collects problems with their field paths while it reads the parsed bootstrap.
type builder struct {
	problems []Problem
	secrets  map[string]*sdsSecret // by name and SDS path
	cfg      *config
}

func (b *builder) refuse(path, format string, args ...any) {
	b.problems = append(b.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...) + ": " + notImplemented})
}

func (b *builder) fail(path, format string, args ...any) {
	b.problems = append(b.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// loadConfig judges the bootstrap FILE as envoy-check does, then as the stand-in does, and builds
// what it serves; with dynamic_resources, from the LDS and CDS files it names (dynamic.go). Problems
// are the reasons to refuse the file (exit 1); err is an unreadable file.
func loadConfig(file string) (*config, []Problem, error) {
	input, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	return loadBootstrap(input)
}

func loadBootstrap(input []byte) (*config, []Problem, error) {
	if problems := Check(input); len(problems) > 0 {
		return nil, problems, nil
	}
	// Check parsed the same input without problems; parse it again to keep the message.
	root, err := envoyYAMLToTree(input)
	if err != nil {
		return nil, []Problem{{Message: err.Error()}}, nil
	}
	bootstrap := &bootstrapv3.Bootstrap{}
	if problems := parseInto(root, bootstrap, ""); len(problems) > 0 {
		return nil, problems, nil
	}
	lines := newLineIndex(root)
	if problems := unimplementedFields(bootstrap, ""); len(problems) > 0 {
		return nil, located(problems, lines), nil
	}
	b := &builder{secrets: map[string]*sdsSecret{}, cfg: &config{clusters: map[string]*clusterConf{}}}
	if bootstrap.GetDynamicResources() != nil {
		dynamic := b.dynamicSources(bootstrap)
		if len(b.problems) > 0 {
			return nil, located(b.problems, lines), nil
		}
		tree, err := withDynamicResources(root, dynamic)
		if err != nil {
			return nil, []Problem{{Message: err.Error()}}, nil
		}
		encoded, _ := encode(tree)
		cfg, problems, err := loadBootstrap(encoded)
		if err != nil || len(problems) > 0 {
			return nil, inDynamicFiles(problems, dynamic), err
		}
		cfg.dynamic = dynamic
		return cfg, nil, nil
	}
	b.bootstrap(bootstrap)
	if len(b.problems) > 0 {
		return nil, located(b.problems, lines), nil
	}
	return b.cfg, nil, nil
}

func (b *builder) bootstrap(bs *bootstrapv3.Bootstrap) {
	if a := bs.GetAdmin().GetAddress(); a != nil {
		if pipe := a.GetPipe(); pipe != nil {
			// Only the admin may be a unix socket here; a listener on one is refused by address().
			if pipe.GetPath() == "" || pipe.GetPath()[0] != '/' {
				b.refuse("admin.address.pipe.path", "a pipe path other than an absolute path")
			}
			b.cfg.adminPipe = &adminPipe{path: pipe.GetPath(), mode: os.FileMode(pipe.GetMode())}
		} else {
			b.cfg.admin, _ = b.address(a, "admin.address")
		}
	}
	for i, layer := range bs.GetLayeredRuntime().GetLayers() {
		b.runtimeLayer(layer, fmt.Sprintf("layered_runtime.layers[%d]", i))
	}
	for i, c := range bs.GetStaticResources().GetClusters() {
		b.cluster(c, fmt.Sprintf("static_resources.clusters[%d]", i))
	}
	for i, l := range bs.GetStaticResources().GetListeners() {
		b.listener(l, fmt.Sprintf("static_resources.listeners[%d]", i))
	}
	for _, s := range b.secrets {
		b.cfg.secrets = append(b.cfg.secrets, s)
	}
}

// runtimeLayer: the one runtime key implemented is the global downstream connection cap.
func (b *builder) runtimeLayer(layer *bootstrapv3.RuntimeLayer, path string) {
	here := joinBase(path, "static_layer")
	if layer.GetStaticLayer() == nil {
		b.refuse(path, "a runtime layer other than static_layer")
		return
	}
	for key, value := range layer.GetStaticLayer().GetFields() {
		overload := value.GetStructValue()
		if key != "overload" || overload == nil {
			b.refuse(joinPath(here, key), "runtime key %q", key)
			continue
		}
		for name, v := range overload.GetFields() {
			n := v.GetNumberValue()
			if name != "global_downstream_max_connections" || n < 1 || n != float64(int64(n)) {
				b.refuse(joinPath(joinPath(here, key), name), "runtime key overload.%s (only global_downstream_max_connections, a positive integer)", name)
				continue
			}
			b.cfg.maxConns = int64(n)
		}
	}
}

// address reads a socket address as host:port; ipv4Compat says whether an IPv6 socket also takes
// IPv4 clients (Envoy's ipv4_compat; without it an IPv6 socket is IPv6 only).
func (b *builder) address(a *corev3.Address, path string) (string, bool) {
	sa := a.GetSocketAddress()
	if sa == nil {
		b.refuse(path, "an address other than socket_address (a pipe is implemented for the admin only)")
		return "", false
	}
	if _, err := netip.ParseAddr(sa.GetAddress()); err != nil {
		b.fail(joinBase(path, "socket_address.address"), "malformed IP address: %q", sa.GetAddress())
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10)), sa.GetIpv4Compat()
}

func (b *builder) cluster(c *clusterv3.Cluster, path string) {
	if c.GetType() != clusterv3.Cluster_STATIC {
		b.refuse(joinBase(path, "type"), "cluster type %s (only STATIC)", c.GetType())
	}
	eps := c.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		b.refuse(joinBase(path, "load_assignment.endpoints"), "a cluster other than exactly one endpoint")
		return
	}
	endpoint, _ := b.address(eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress(),
		joinBase(path, "load_assignment.endpoints[0].lb_endpoints[0].endpoint.address"))
	cc := &clusterConf{
		name: c.GetName(), endpoint: endpoint,
		connectTimeout: durationOr(c.GetConnectTimeout(), 5*time.Second),
		idleTimeout:    time.Hour, // Envoy's default upstream idle timeout
	}
	for key, options := range c.GetTypedExtensionProtocolOptions() {
		here := joinPath(joinBase(path, "typed_extension_protocol_options"), key)
		hpo := &upstreamhttpv3.HttpProtocolOptions{}
		if key != "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" || !unpack(options, hpo) {
			b.refuse(here, "protocol options other than envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
			continue
		}
		common := hpo.GetCommonHttpProtocolOptions()
		if common.GetHeadersWithUnderscoresAction() != corev3.HttpProtocolOptions_ALLOW {
			b.refuse(joinBase(here, "common_http_protocol_options.headers_with_underscores_action"), "headers_with_underscores_action on a cluster")
		}
		if common.GetIdleTimeout() != nil {
			cc.idleTimeout = common.GetIdleTimeout().AsDuration()
		}
		if max := common.GetMaxRequestsPerConnection(); max != nil {
			if max.GetValue() != 1 {
				b.refuse(joinBase(here, "common_http_protocol_options.max_requests_per_connection"), "max_requests_per_connection %d (only 1)", max.GetValue())
			}
			cc.oneRequestPerConnection = true
		}
	}
	b.cfg.clusters[cc.name] = cc
}

// unpack opens an Any as the message m names; false when it holds another type.
func unpack(a *anypb.Any, m proto.Message) bool {
	return a.MessageIs(m) && a.UnmarshalTo(m) == nil
}

func durationOr(d *durationpb.Duration, fallback time.Duration) time.Duration {
	if d == nil {
		return fallback
	}
	return d.AsDuration()
}
