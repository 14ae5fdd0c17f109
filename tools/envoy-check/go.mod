module limen-infra/tools/envoy-check

go 1.26.0

// Versions (each one served by the Go module proxy when pinned, 2026-11; none was refused):
//   - github.com/envoyproxy/go-control-plane/envoy v1.38.0: the API and generated validators of the
//     pinned Envoy image (envoyproxy/envoy:v1.38.0); move it with the image, not past it.
//   - google.golang.org/protobuf v1.36.12 (protojson), go.yaml.in/yaml/v3 v3.0.6: newest served.
//   - github.com/cncf/xds/go: the version go-control-plane v1.38.0 requires (TypedStruct, xds matchers).
require (
	github.com/cncf/xds/go v0.0.0-20251210132809-ee656c7534f5
	github.com/envoyproxy/go-control-plane/envoy v1.38.0
	go.yaml.in/yaml/v3 v3.0.6
	google.golang.org/protobuf v1.36.12
)

require (
	cel.dev/expr v0.25.1 // indirect
	github.com/envoyproxy/protoc-gen-validate v1.3.3 // indirect
	github.com/planetscale/vtprotobuf v0.6.1-0.20240319094008-0393e58bdf10 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260209200024-4cfbd4190f57 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260209200024-4cfbd4190f57 // indirect
)
