package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
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

// Check judges a bootstrap given as YAML (or JSON, which is YAML) the way Envoy loads one:
//  1. YAML to JSON with Envoy's scalar rules (tree.go);
//  2. JSON to envoy.config.bootstrap.v3.Bootstrap with protojson, unknown fields refused and every
//     typed_config resolved by its "@type" among the linked extensions (parse.go); a bootstrap that
//     does not parse is not checked further, as Envoy stops there;
//  3. the protoc-gen-validate rules, by the validators go-control-plane generates (ValidateAll), on
//     the bootstrap and on each typed_config (which PGV does not enter: Envoy validates an extension's
//     config when it builds the extension), a TypedStruct's value read as the type it names;
//  4. the checks Envoy makes while it loads that no PGV rule expresses (checkReferences,
//     checkFilterChains).
//
// It returns the problems found, none when Envoy would load the bootstrap as far as config goes
// (files it names, such as certificates, are not read).
func Check(input []byte) []Problem {
	root, err := envoyYAMLToTree(input)
	if err != nil {
		return []Problem{{Message: err.Error()}}
	}
	lines := newLineIndex(root)
	bootstrap := &bootstrapv3.Bootstrap{}
	problems := parseInto(root, bootstrap, "")
	if len(problems) == 0 {
		c := &checker{}
		c.validate(bootstrap, "")
		c.walk(bootstrap.ProtoReflect(), "", scope{validateClusters: true})
		c.checkReferences(bootstrap)
		problems = c.problems
	}
	return located(problems, lines)
}

// located gives each problem the YAML line of its path (or of the nearest ancestor in the document)
// and drops repeats.
func located(problems []Problem, lines lineIndex) []Problem {
	seen := map[string]bool{}
	out := problems[:0]
	for _, p := range problems {
		if p.Line == 0 {
			p.Line = lines.lineOf(p.Path)
		}
		if key := p.String(); !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

type checker struct {
	problems []Problem
	// What the walk found, for the cross-reference checks.
	clusterRefs []ref // clusters named by routes
	secretRefs  []ref // static secrets named by SDS configs without a config source
}

type ref struct{ name, path, what string }

// scope is what the walk knows about where it is.
type scope struct {
	// validateClusters: inside a route table whose cluster references Envoy checks at load (the
	// default for a static table; RouteConfiguration.validate_clusters: false turns it off).
	validateClusters bool
	// hostnames: inside the endpoints of a cluster that resolves names (STRICT_DNS, LOGICAL_DNS, a
	// custom cluster_type), where a socket address may be a hostname.
	hostnames bool
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// validate runs the generated protoc-gen-validate validator of m, if it has one, and reports each
// violation at its field path.
func (c *checker) validate(m proto.Message, path string) {
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		return
	}
	if err := v.ValidateAll(); err != nil {
		c.pgv(err, m.ProtoReflect().Descriptor(), path)
	}
}

// The shapes of the errors protoc-gen-validate generates: one XValidationError per violation, an
// XMultiError from ValidateAll, and "embedded message failed validation" with the inner error as cause.
type pgvFieldError interface {
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

type pgvMultiError interface{ AllErrors() []error }

var pgvFieldRE = regexp.MustCompile(`^([A-Za-z0-9_]+)(?:\[(.*)\])?$`)

func (c *checker) pgv(err error, md protoreflect.MessageDescriptor, path string) {
	if multi, ok := err.(pgvMultiError); ok {
		for _, e := range multi.AllErrors() {
			c.pgv(e, md, path)
		}
		return
	}
	fe, ok := err.(pgvFieldError)
	if !ok {
		c.add(path, "%s", err.Error())
		return
	}
	reason := fe.Reason()
	if fe.Key() {
		reason = "map key: " + reason
	}
	name, index := fe.Field(), ""
	if m := pgvFieldRE.FindStringSubmatch(fe.Field()); m != nil {
		name, index = m[1], m[2]
	}
	if fd := fieldByGoName(md, name); fd != nil {
		here := joinBase(path, string(fd.Name()))
		switch {
		case fe.Key() || index == "":
		case fd.IsMap():
			here = joinPath(here, index)
		default:
			here = fmt.Sprintf("%s[%s]", here, index)
		}
		if cause := fe.Cause(); cause != nil {
			sub := fd.Message()
			if fd.IsMap() {
				sub = fd.MapValue().Message()
			}
			if sub != nil {
				c.pgv(cause, sub, here)
			} else {
				c.add(here, "%s: %v", reason, cause)
			}
			return
		}
		c.add(here, "%s", reason)
		return
	}
	if od := oneofByGoName(md, name); od != nil && fe.Cause() == nil {
		if reason == "value is required" {
			var members []string
			for i := 0; i < od.Fields().Len(); i++ {
				members = append(members, string(od.Fields().Get(i).Name()))
			}
			c.add(path, "one of %s is required (oneof %s)", strings.Join(members, ", "), od.Name())
			return
		}
		c.add(joinBase(path, string(od.Name())), "%s", reason)
		return
	}
	if cause := fe.Cause(); cause != nil {
		reason = fmt.Sprintf("%s: %v", reason, cause)
	}
	c.add(joinBase(path, fe.Field()), "%s", reason)
}

// goNameKey compares a proto field name with the Go name PGV reports (stat_prefix ~ StatPrefix).
func goNameKey(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

func fieldByGoName(md protoreflect.MessageDescriptor, goName string) protoreflect.FieldDescriptor {
	if md == nil {
		return nil
	}
	want := goNameKey(goName)
	for i := 0; i < md.Fields().Len(); i++ {
		if fd := md.Fields().Get(i); goNameKey(string(fd.Name())) == want {
			return fd
		}
	}
	return nil
}

func oneofByGoName(md protoreflect.MessageDescriptor, goName string) protoreflect.OneofDescriptor {
	if md == nil {
		return nil
	}
	want := goNameKey(goName)
	for i := 0; i < md.Oneofs().Len(); i++ {
		if od := md.Oneofs().Get(i); goNameKey(string(od.Name())) == want {
			return od
		}
	}
	return nil
}

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
