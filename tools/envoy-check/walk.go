// The walk over the parsed bootstrap: every message validated, every typed_config opened (a
// TypedStruct read as the type it names), and what the cross-reference checks need noted on the way.

package main

import (
	"fmt"
	"sort"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// walk visits every message in m, opens every typed_config, and notes what the cross-reference
// checks need.
func (c *checker) walk(m protoreflect.Message, path string, sc scope) {
	resolvingCluster := false
	switch x := m.Interface().(type) {
	case *anypb.Any:
		c.any(x, path, sc)
		return
	case *routev3.RouteConfiguration:
		sc.validateClusters = x.GetValidateClusters() == nil || x.GetValidateClusters().GetValue()
	case *routev3.RouteAction:
		if sc.validateClusters && x.GetCluster() != "" {
			c.clusterRefs = append(c.clusterRefs, ref{x.GetCluster(), joinBase(path, "cluster"), "cluster"})
		}
	case *routev3.WeightedCluster_ClusterWeight:
		if sc.validateClusters && x.GetName() != "" {
			c.clusterRefs = append(c.clusterRefs, ref{x.GetName(), joinBase(path, "name"), "weighted cluster"})
		}
	case *routev3.RouteAction_RequestMirrorPolicy:
		if sc.validateClusters && x.GetCluster() != "" {
			c.clusterRefs = append(c.clusterRefs, ref{x.GetCluster(), joinBase(path, "cluster"), "mirror cluster"})
		}
	case *matcherv3.RegexMatcher:
		c.checkRegex(x.GetRegex(), joinBase(path, "regex"))
	case *xdsmatcherv3.RegexMatcher:
		c.checkRegex(x.GetRegex(), joinBase(path, "regex"))
	case *tlsv3.DownstreamTlsContext:
		c.checkServerCertificates(x.GetCommonTlsContext(), joinBase(path, "common_tls_context"))
	case *tlsv3.TlsCertificate:
		c.checkCertificate(x, path)
	case *tlsv3.SdsSecretConfig:
		if x.GetSdsConfig() == nil && x.GetName() != "" {
			c.secretRefs = append(c.secretRefs, ref{x.GetName(), joinBase(path, "name"), "static secret"})
		}
	case *listenerv3.Listener:
		c.checkFilterChains(x, path)
	case *clusterv3.Cluster:
		resolvingCluster = x.GetClusterType() != nil || x.GetType() != clusterv3.Cluster_STATIC
	case *corev3.SocketAddress:
		c.checkSocketAddress(x, path, sc)
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		here := joinBase(path, string(fd.Name()))
		child := sc
		if resolvingCluster && fd.Name() == "load_assignment" {
			child.hostnames = true
		}
		switch {
		case fd.IsList():
			if fd.Message() == nil {
				continue
			}
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				c.walk(list.Get(j).Message(), fmt.Sprintf("%s[%d]", here, j), child)
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				continue
			}
			entries := m.Get(fd).Map()
			var keys []protoreflect.MapKey
			entries.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				c.walk(entries.Get(k).Message(), joinPath(here, k.String()), child)
			}
		case fd.Message() != nil:
			c.walk(m.Get(fd).Message(), here, child)
		}
	}
}

// any opens a typed_config: its own validation rules, then everything inside it.
func (c *checker) any(a *anypb.Any, path string, sc scope) {
	if a.GetTypeUrl() == "" {
		return
	}
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: strict.Resolver})
	if err != nil {
		c.add(joinBase(path, "@type"), "cannot open %s: %v", a.GetTypeUrl(), err)
		return
	}
	c.validate(inner, path)
	switch ts := inner.(type) {
	case *xdstypev3.TypedStruct:
		c.typedStruct(ts.GetTypeUrl(), ts.GetValue(), path, sc)
	case *udpatypev1.TypedStruct:
		c.typedStruct(ts.GetTypeUrl(), ts.GetValue(), path, sc)
	default:
		c.walk(inner.ProtoReflect(), path, sc)
	}
}

// typedStruct reads a TypedStruct's value as the message its type_url names, strictly, as Envoy does
// when it builds the extension (MessageUtil::jsonConvert).
func (c *checker) typedStruct(typeURL string, value *structpb.Struct, path string, sc scope) {
	mt, err := strict.Resolver.FindMessageByURL(typeURL)
	if err != nil {
		c.add(joinBase(path, "type_url"), "unable to resolve %q: not a type this checker links (extensions.go)", typeURL)
		return
	}
	if value == nil {
		value = &structpb.Struct{}
	}
	raw, err := protojson.Marshal(value)
	if err != nil {
		c.add(joinBase(path, "value"), "%v", err)
		return
	}
	tree, err := jsonToTree(raw)
	if err != nil {
		c.add(joinBase(path, "value"), "%v", err)
		return
	}
	msg := mt.New().Interface()
	here := joinBase(path, "value")
	if problems := parseInto(tree, msg, here); len(problems) > 0 {
		c.problems = append(c.problems, problems...)
		return
	}
	c.validate(msg, here)
	c.walk(msg.ProtoReflect(), here, sc)
}
