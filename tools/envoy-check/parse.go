package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Problem is one reason Envoy would refuse the bootstrap.
type Problem struct {
	Path    string // field path in the document, e.g. static_resources.clusters[0].connect_timeout
	Message string
	Line    int // YAML line, 0 when unknown
}

func (p Problem) String() string {
	path := p.Path
	if path == "" {
		path = "(root)"
	}
	if p.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", path, p.Message, p.Line)
	}
	return fmt.Sprintf("%s: %s", path, p.Message)
}

// maxParseProblems bounds the parse-report-prune loop below.
const maxParseProblems = 100

// strict is how Envoy reads a bootstrap's JSON: unknown fields refused (for the static bootstrap an
// unknown field is an error, not a warning), "@type" resolved among the linked extensions.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}

var positionRE = regexp.MustCompile(`(?s)\(line (\d+):(\d+)\): (.*)$`)
var enumRE = regexp.MustCompile(`^invalid value for enum field \w+: "`)

// parseInto parses the tree into m with protojson, strictly. protojson stops at the first problem;
// to list them all, each one is reported with the field path its position falls in, that member is
// left out, and the parse runs again. Envoy stops at the first, so every problem listed is one Envoy
// would report once the ones before it were fixed.
func parseInto(root *jnode, m proto.Message, base string) []Problem {
	var problems []Problem
	for range maxParseProblems {
		buf, spans := encode(root)
		proto.Reset(m)
		err := strict.Unmarshal(buf, m)
		if err == nil {
			return problems
		}
		off, msg, ok := errorOffset(buf, err)
		if !ok {
			return append(problems, Problem{Path: base, Message: protoMessage(err)})
		}
		at, found := innermost(spans, off)
		if !found {
			return append(problems, Problem{Path: base, Message: msg})
		}
		// Envoy parses enum names case-insensitively (JsonParseOptions.case_insensitive_enum_parsing:
		// a name that fails is tried again in upper case).
		if enumRE.MatchString(msg) && at.node.kind == kString && at.node.spelled == "" && strings.ToUpper(at.node.text) != at.node.text {
			at.node.spelled, at.node.text = at.node.text, strings.ToUpper(at.node.text)
			continue
		}
		if at.node.spelled != "" {
			msg = strings.Replace(msg, strconv.Quote(at.node.text), strconv.Quote(at.node.spelled), 1)
		}
		problems = append(problems, Problem{Path: joinBase(base, at.path), Message: msg})
		// An unresolvable "@type" makes its whole Any unreadable: leave the Any out.
		victim := at
		if at.path == "@type" || strings.HasSuffix(at.path, ".@type") {
			parent := strings.TrimSuffix(strings.TrimSuffix(at.path, "@type"), ".")
			for _, s := range spans {
				if s.path == parent {
					victim = s
					break
				}
			}
		}
		if victim.node == root {
			return problems
		}
		victim.node.removed = true
	}
	return append(problems, Problem{Path: base, Message: fmt.Sprintf("more than %d problems; stopped", maxParseProblems)})
}

func joinBase(base, path string) string {
	switch {
	case base == "":
		return path
	case path == "":
		return base
	case strings.HasPrefix(path, "["):
		return base + path
	default:
		return base + "." + path
	}
}

// errorOffset finds the byte offset a protojson error points at (it gives line:column, column in
// runes; the encoding is one line) and the error's text without its prefix.
func errorOffset(buf []byte, err error) (int, string, bool) {
	m := positionRE.FindStringSubmatch(err.Error())
	if m == nil || m[1] != "1" {
		return 0, "", false
	}
	column, convErr := strconv.Atoi(m[2])
	if convErr != nil {
		return 0, "", false
	}
	off := 0
	for runes := 1; runes < column && off < len(buf); runes++ {
		_, size := utf8.DecodeRune(buf[off:])
		off += size
	}
	return off, m[3], true
}

// protoMessage strips protobuf's "proto:" prefix (whose space varies on purpose) from an error.
func protoMessage(err error) string {
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "proto:"); ok {
		return strings.TrimLeft(rest, " \u00a0")
	}
	return s
}
