// Check, the entry point of the judgement, and the checker every step reports its problems to.

package main

import (
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
)

// Check judges a bootstrap given as YAML (or JSON, which is YAML) the way Envoy loads one:
//  1. YAML to JSON with Envoy's scalar rules (yaml.go);
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
