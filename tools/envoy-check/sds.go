package main

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

var secretTypeURL = "type.googleapis.com/" + string((&tlsv3.Secret{}).ProtoReflect().Descriptor().FullName())

// CheckSDS judges an SDS file: what a ConfigSource's path (or path_config_source) names, read by
// Envoy's filesystem subscription as an envoy.service.discovery.v3.DiscoveryResponse. It is loaded
// like a bootstrap (YAML as Envoy reads it, strict proto JSON, each resource's Any resolved by its
// type URL), the Secret validated by PGV and walked like a bootstrap's messages, then held to what
// SdsApi::onConfigUpdate requires: exactly one resource, a Secret, named as the SdsSecretConfig that
// reads the file (when name is given).
//
// The DiscoveryResponse envelope is read here rather than by its generated type: that Go package
// also holds the xDS gRPC services and would link gRPC into this tool. A file uses two of its fields,
// version_info and resources; the others only come from a management server and are refused.
//
// Stricter than Envoy, for the files this stack renders: an unknown field is refused (Envoy reads
// dynamic resources with a warning for one), the Secret must be a tls_certificate (a server
// certificate), and its chain and key must be named by filename (inline material would put the key
// in the rendered text, and only files are watched for rotation).
func CheckSDS(input []byte, name string) []Problem {
	root, err := envoyYAMLToTree(input)
	if err != nil {
		return []Problem{{Message: err.Error()}}
	}
	lines := newLineIndex(root)
	var problems []Problem
	var resources []*anypb.Any
	sawResources := false
	for k, key := range root.keys {
		node := root.items[k]
		switch key {
		case "version_info", "versionInfo":
			if node.kind != kString {
				problems = append(problems, Problem{Path: key, Message: "invalid value for string field versionInfo"})
			}
		case "resources":
			sawResources = true
			if node.kind != kArray {
				problems = append(problems, Problem{Path: key, Message: "not a list: resources holds the Secret, as a list of one"})
				continue
			}
			for i, item := range node.items {
				resource := &anypb.Any{}
				if parsed := parseInto(item, resource, fmt.Sprintf("resources[%d]", i)); len(parsed) > 0 {
					problems = append(problems, parsed...)
					resource = nil
				}
				resources = append(resources, resource)
			}
		case "canary", "type_url", "typeUrl", "nonce", "control_plane", "controlPlane", "resource_errors", "resourceErrors":
			problems = append(problems, Problem{Path: key, Message: "a DiscoveryResponse field only a management server sends: an SDS file holds version_info and resources"})
		default:
			problems = append(problems, Problem{Path: joinPath("", key), Message: fmt.Sprintf("unknown field %q", key)})
		}
	}
	if len(problems) == 0 {
		c := &checker{}
		if !sawResources || len(resources) == 0 {
			c.add("resources", "Missing SDS resources: an SDS file holds exactly one Secret")
		}
		c.sdsResources(resources, name)
		problems = c.problems
	}
	return located(problems, lines)
}

func (c *checker) sdsResources(resources []*anypb.Any, name string) {
	if len(resources) > 1 {
		c.add("resources[1]", "Unexpected SDS secrets length: %d: an SDS file holds exactly one Secret", len(resources))
	}
	for i, resource := range resources {
		here := fmt.Sprintf("resources[%d]", i)
		if resource.GetTypeUrl() != secretTypeURL {
			c.add(joinBase(here, "@type"), "an SDS resource must be %s, not %q", secretTypeURL, resource.GetTypeUrl())
			continue
		}
		secret := &tlsv3.Secret{}
		if err := resource.UnmarshalTo(secret); err != nil {
			c.add(here, "cannot open the Secret: %v", err)
			continue
		}
		c.validate(secret, here)
		c.walk(secret.ProtoReflect(), here, scope{})
		c.sdsSecret(secret, here, name)
	}
}

func (c *checker) sdsSecret(secret *tlsv3.Secret, path, name string) {
	switch {
	case secret.GetName() == "":
		c.add(joinBase(path, "name"), "the Secret has no name: Envoy takes it only for an SdsSecretConfig of the same name")
	case name != "" && secret.GetName() != name:
		c.add(joinBase(path, "name"), "Unexpected SDS secret (expecting %q): %q", name, secret.GetName())
	}
	cert := secret.GetTlsCertificate()
	if cert == nil {
		held := "nothing"
		m := secret.ProtoReflect()
		if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("type")); fd != nil {
			held = string(fd.Name())
		}
		c.add(path, "the Secret holds %s, not a tls_certificate: the SDS file of a server certificate names its chain and key", held)
		return
	}
	for _, source := range []struct {
		field string
		data  *corev3.DataSource
	}{{"certificate_chain", cert.GetCertificateChain()}, {"private_key", cert.GetPrivateKey()}} {
		if _, isFile := source.data.GetSpecifier().(*corev3.DataSource_Filename); source.data.GetSpecifier() != nil && !isFile {
			c.add(joinBase(joinBase(path, "tls_certificate"), source.field),
				"not a filename: the pair is named by file, so that it is watched for rotation and no key material is in the rendered text")
		}
	}
}
