package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// Dynamic resources from the filesystem (Envoy's lds_config and cds_config with a
// path_config_source): each file is a DiscoveryResponse, `version_info` and `resources`, the
// listeners or the clusters. Envoy reloads one when a file is moved into its watched_directory, and
// a file it rejects leaves the previous resources serving.
//
// The stand-in reads both files into the bootstrap as if they were static_resources and judges the
// result as a whole, with the same steps as any bootstrap (envoy-check's Check, the allowlist, the
// builder): a route to a cluster the CDS file lacks is refused like one in a static bootstrap.
// Stricter than Envoy, which applies the listeners of an LDS update it can apply and rejects the
// others, the stand-in rejects the whole update.

const (
	listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
)

// dynamicSource is one path_config_source: the file, and the directory whose moves reload it.
type dynamicSource struct {
	kind    string // "lds" or "cds"
	file    string
	watched string
}

// dynamicConf is where a bootstrap with dynamic_resources takes its listeners and clusters from,
// and the versions (version_info) of the files it last loaded.
type dynamicConf struct {
	lds, cds               dynamicSource
	ldsVersion, cdsVersion string
}

func (b *builder) dynamicSources(bs *bootstrapv3.Bootstrap) *dynamicConf {
	dr := bs.GetDynamicResources()
	source := func(kind string, cs *corev3.ConfigSource, path string) dynamicSource {
		pcs := cs.GetPathConfigSource()
		if pcs == nil {
			b.refuse(path, "a %s config source other than path_config_source", kind)
			return dynamicSource{kind: kind}
		}
		if cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
			b.refuse(joinBase(path, "resource_api_version"), "a resource_api_version other than V3")
		}
		watched := pcs.GetWatchedDirectory().GetPath()
		if watched == "" {
			// Without a watched directory Envoy watches the file itself; the stand-in does not.
			b.refuse(joinBase(path, "path_config_source"), "a path_config_source without watched_directory")
		}
		return dynamicSource{kind: kind, file: pcs.GetPath(), watched: watched}
	}
	d := &dynamicConf{}
	if dr.GetLdsConfig() == nil || dr.GetCdsConfig() == nil {
		b.refuse("dynamic_resources", "dynamic_resources without both lds_config and cds_config")
		return d
	}
	d.lds = source("lds", dr.GetLdsConfig(), "dynamic_resources.lds_config")
	d.cds = source("cds", dr.GetCdsConfig(), "dynamic_resources.cds_config")
	if len(bs.GetStaticResources().GetListeners()) > 0 || len(bs.GetStaticResources().GetClusters()) > 0 {
		b.refuse("static_resources", "static listeners or clusters beside dynamic_resources")
	}
	return d
}

// readDiscoveryResponse reads one DiscoveryResponse file: its version_info and its resources, each
// of type want, without their "@type" (as static_resources holds them).
func readDiscoveryResponse(file, want string) (string, []*jnode, error) {
	input, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	root, err := envoyYAMLToTree(input)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %v", file, err)
	}
	version := ""
	var resources []*jnode
	for k, key := range root.keys {
		node := root.items[k]
		switch key {
		case "version_info":
			if node.kind != kString {
				return "", nil, fmt.Errorf("%s: version_info: not a string", file)
			}
			version = node.text
		case "resources":
			if node.kind != kArray {
				return "", nil, fmt.Errorf("%s: resources: not a list", file)
			}
			for i, item := range node.items {
				if item.kind != kObject {
					return "", nil, fmt.Errorf("%s: resources[%d]: not a mapping", file, i)
				}
				stripped := &jnode{kind: kObject, line: item.line}
				typed := ""
				for j, name := range item.keys {
					if name == "@type" {
						typed = item.items[j].text
						continue
					}
					stripped.keys = append(stripped.keys, name)
					stripped.items = append(stripped.items, item.items[j])
				}
				if typed != want {
					return "", nil, fmt.Errorf("%s: resources[%d]: @type %q, expected %s", file, i, typed, want)
				}
				resources = append(resources, stripped)
			}
		default:
			return "", nil, fmt.Errorf("%s: %s: %s", file, key, notImplemented)
		}
	}
	return version, resources, nil
}

// withDynamicResources is the bootstrap tree with the files' listeners and clusters as its
// static_resources and without node and dynamic_resources: what the stand-in judges and serves.
func withDynamicResources(root *jnode, d *dynamicConf) (*jnode, error) {
	var err error
	var listeners, clusters []*jnode
	if d.ldsVersion, listeners, err = readDiscoveryResponse(d.lds.file, listenerType); err != nil {
		return nil, err
	}
	if d.cdsVersion, clusters, err = readDiscoveryResponse(d.cds.file, clusterType); err != nil {
		return nil, err
	}
	out := &jnode{kind: kObject}
	for k, key := range root.keys {
		if key == "node" || key == "dynamic_resources" || key == "static_resources" {
			continue
		}
		out.keys = append(out.keys, key)
		out.items = append(out.items, root.items[k])
	}
	static := &jnode{kind: kObject, keys: []string{"listeners", "clusters"}, items: []*jnode{{kind: kArray, items: listeners}, {kind: kArray, items: clusters}}}
	out.keys = append(out.keys, "static_resources")
	out.items = append(out.items, static)
	return out, nil
}

// inDynamicFiles says a problem of the judged bootstrap where it is: in the LDS or CDS file.
func inDynamicFiles(problems []Problem, d *dynamicConf) []Problem {
	out := make([]Problem, 0, len(problems))
	for _, p := range problems {
		for prefix, source := range map[string]dynamicSource{"static_resources.listeners": d.lds, "static_resources.clusters": d.cds} {
			if strings.HasPrefix(p.Path, prefix) {
				p.Path = filepath.Base(source.file) + " resources" + strings.TrimPrefix(p.Path, prefix)
			}
		}
		out = append(out, p)
	}
	return out
}
