package main

import "runtime/debug"

// controlPlaneVersion names the go-control-plane module this binary's Envoy API and validators come
// from (envoy-check, and the lab's stand-in Envoy built from the same files).
func controlPlaneVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/envoyproxy/go-control-plane/envoy" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
