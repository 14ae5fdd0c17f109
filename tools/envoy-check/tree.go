package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// kind is the JSON type of a tree node.
type kind int

const (
	kObject kind = iota
	kArray
	kString
	kNumber
	kBool
	kNull
)

// jnode is a JSON value that keeps the document's member order and YAML line numbers, so that a
// problem can name the field path (and line) it is about.
type jnode struct {
	kind  kind
	text  string   // a string's value or a number's literal
	b     bool     // a bool's value
	keys  []string // an object's member names, parallel to items
	items []*jnode // an object's member values, or an array's items
	line  int      // YAML line of the member name or item (0 when the input was not YAML)
	// removed: left out of the JSON handed to protojson, after a problem was reported there, so that
	// the next parse finds the next problem (indexes of later list items keep their meaning).
	removed bool
	// spelled: the original spelling of an enum name whose case was changed (Envoy parses enum names
	// case-insensitively).
	spelled string
}

// envoyYAMLToTree converts a YAML document to JSON the way Envoy does it before it parses a
// bootstrap (ValueUtil::loadFromYaml and parseYamlNode in source/common/protobuf/yaml_utility.cc,
// on yaml-cpp):
//   - a quoted or block scalar is a string;
//   - a plain scalar is null (~, null, Null, NULL, empty), else a bool if yaml-cpp reads one
//     (y/n, yes/no, true/false, on/off in lower, upper or capitalised case), else an integer if it is
//     one in C++ stream syntax (decimal, 0x hex, leading-0 octal): a number within int32, a decimal
//     string beyond; anything else, floats included, stays a string for the proto JSON parser;
//   - a mapping key tagged !ignore is dropped, any other key is taken as a string; "<<" is not a
//     merge (yaml-cpp has no merge keys), so it reaches the parser as a field named "<<";
//   - aliases are expanded.
//
// One deviation, stricter than Envoy: a key given twice in one mapping is refused (Envoy keeps the
// last), since a rendered file with one is wrong either way.
func envoyYAMLToTree(src []byte) (*jnode, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty input: no YAML document")
		}
		return nil, fmt.Errorf("YAML: %v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("YAML: %v", err)
		}
		return nil, fmt.Errorf("YAML: a second document starts at line %d; a bootstrap is one document", extra.Line)
	}
	root, err := fromYAML(&doc, 0)
	if err != nil {
		return nil, err
	}
	if root.kind != kObject {
		return nil, errors.New("YAML: the document is not a mapping (Envoy: Unable to convert YAML as JSON)")
	}
	return root, nil
}

const maxDepth = 200

func fromYAML(n *yaml.Node, depth int) (*jnode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("YAML: nested deeper than %d levels (line %d)", maxDepth, n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, errors.New("empty input: no YAML document")
		}
		return fromYAML(n.Content[0], depth+1)
	case yaml.AliasNode:
		out, err := fromYAML(n.Alias, depth+1)
		if err == nil {
			out.line = n.Line
		}
		return out, err
	case yaml.MappingNode:
		out := &jnode{kind: kObject, line: n.Line}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			for k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Tag == "!ignore" {
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("YAML: a mapping key at line %d is not a scalar", k.Line)
			}
			if first, dup := seen[k.Value]; dup {
				return nil, fmt.Errorf("YAML: key %q given twice in one mapping (lines %d and %d)", k.Value, first, k.Line)
			}
			seen[k.Value] = k.Line
			child, err := fromYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			child.line = k.Line
			out.keys = append(out.keys, k.Value)
			out.items = append(out.items, child)
		}
		return out, nil
	case yaml.SequenceNode:
		out := &jnode{kind: kArray, line: n.Line}
		for _, item := range n.Content {
			child, err := fromYAML(item, depth+1)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, child)
		}
		return out, nil
	case yaml.ScalarNode:
		return envoyScalar(n), nil
	}
	return nil, fmt.Errorf("YAML: unexpected node at line %d", n.Line)
}

func envoyScalar(n *yaml.Node) *jnode {
	out := &jnode{line: n.Line}
	const nonPlain = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if n.Style&nonPlain != 0 {
		out.kind, out.text = kString, n.Value
		return out
	}
	switch n.Value {
	case "", "~", "null", "Null", "NULL":
		out.kind = kNull
		return out
	}
	if b, ok := yamlCppBool(n.Value); ok {
		out.kind, out.b = kBool, b
		return out
	}
	if i, ok := cppStreamInt64(n.Value); ok {
		if i >= -1<<31 && i <= 1<<31-1 {
			out.kind = kNumber
		} else {
			out.kind = kString
		}
		out.text = strconv.FormatInt(i, 10)
		return out
	}
	out.kind, out.text = kString, n.Value
	return out
}

// yamlCppBool is YAML::convert<bool>::decode: the YAML 1.1 names, in lower, UPPER or Capitalised case.
func yamlCppBool(s string) (bool, bool) {
	if !(s == strings.ToLower(s) || s == strings.ToUpper(s) ||
		(len(s) > 0 && s[:1] == strings.ToUpper(s[:1]) && s[1:] == strings.ToLower(s[1:]))) {
		return false, false
	}
	switch strings.ToLower(s) {
	case "y", "yes", "true", "on":
		return true, true
	case "n", "no", "false", "off":
		return false, true
	}
	return false, false
}

// cppStreamInt64 is YAML::convert<int64_t>::decode: `stream >> value` with the base taken from the
// prefix (0x hex, a leading 0 octal, else decimal), an optional sign, nothing after but whitespace,
// and no overflow.
func cppStreamInt64(s string) (int64, bool) {
	t := strings.TrimRight(s, " \t\r\n\v\f")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || strings.ContainsAny(t, "+-_") {
		return 0, false
	}
	u, err := strconv.ParseUint(t, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// jsonToTree reads JSON (a TypedStruct's value, as Envoy re-reads it) into a tree, keeping member order.
func jsonToTree(data []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out, err := readJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("JSON: trailing data")
	}
	return out, nil
}

func readJSON(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("JSON: nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			out := &jnode{kind: kObject}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("JSON: %v", err)
				}
				child, err := readJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				out.keys = append(out.keys, keyTok.(string))
				out.items = append(out.items, child)
			}
			_, err = dec.Token()
			return out, err
		}
		out := &jnode{kind: kArray}
		for dec.More() {
			child, err := readJSON(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, child)
		}
		_, err = dec.Token()
		return out, err
	case string:
		return &jnode{kind: kString, text: t}, nil
	case json.Number:
		return &jnode{kind: kNumber, text: t.String()}, nil
	case bool:
		return &jnode{kind: kBool, b: t}, nil
	case nil:
		return &jnode{kind: kNull}, nil
	}
	return nil, fmt.Errorf("JSON: unexpected token %v", tok)
}

// span is where one value (or a member name and its value) sits in an encoded tree.
type span struct {
	start, end int    // byte offsets in the encoding
	path       string // field path, as a problem names it
	node       *jnode
}

// encode writes the tree as compact JSON (one line, so a protojson column is an offset) and records
// the span of every member and item, in order of their start.
func encode(root *jnode) ([]byte, []span) {
	var buf bytes.Buffer
	var spans []span
	var write func(n *jnode, path string, keyStart int)
	write = func(n *jnode, path string, keyStart int) {
		at := len(spans)
		start := buf.Len()
		if keyStart >= 0 {
			start = keyStart
		}
		spans = append(spans, span{start: start, path: path, node: n})
		switch n.kind {
		case kObject:
			buf.WriteByte('{')
			first := true
			for i, key := range n.keys {
				child := n.items[i]
				if child.removed {
					continue
				}
				if !first {
					buf.WriteByte(',')
				}
				first = false
				ks := buf.Len()
				writeString(&buf, key)
				buf.WriteByte(':')
				write(child, joinPath(path, key), ks)
			}
			buf.WriteByte('}')
		case kArray:
			buf.WriteByte('[')
			first := true
			for i, child := range n.items {
				if child.removed {
					continue
				}
				if !first {
					buf.WriteByte(',')
				}
				first = false
				write(child, fmt.Sprintf("%s[%d]", path, i), -1)
			}
			buf.WriteByte(']')
		case kString:
			writeString(&buf, n.text)
		case kNumber:
			buf.WriteString(n.text)
		case kBool:
			buf.WriteString(strconv.FormatBool(n.b))
		case kNull:
			buf.WriteString("null")
		}
		spans[at].end = buf.Len()
	}
	write(root, "", -1)
	return buf.Bytes(), spans
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Truncate(buf.Len() - 1)
}

// innermost returns the span that most narrowly contains offset off.
func innermost(spans []span, off int) (span, bool) {
	best, found := span{}, false
	for _, s := range spans {
		if s.start <= off && off < s.end && (!found || s.start >= best.start) {
			best, found = s, true
		}
	}
	return best, found
}

// joinPath appends a member name to a field path: `a.b`, or `a["odd key"]` for a name that is not a
// plain identifier (a map key such as a metadata namespace with dots).
func joinPath(base, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return base + "[" + strconv.Quote(key) + "]"
	case base == "":
		return key
	default:
		return base + "." + key
	}
}

// lineIndex maps field paths (compared without case and underscores, so a json_name spelling such as
// statPrefix finds stat_prefix) to their YAML lines.
type lineIndex map[string]int

func normalizePath(p string) string {
	return strings.ToLower(strings.ReplaceAll(p, "_", ""))
}

func newLineIndex(root *jnode) lineIndex {
	idx := lineIndex{}
	_, spans := encode(root)
	for _, s := range spans {
		if s.node.line > 0 {
			if _, ok := idx[normalizePath(s.path)]; !ok {
				idx[normalizePath(s.path)] = s.node.line
			}
		}
	}
	return idx
}

// lineOf is the line of the path, or of its nearest ancestor in the document.
func (idx lineIndex) lineOf(path string) int {
	for p := path; ; {
		if line, ok := idx[normalizePath(p)]; ok {
			return line
		}
		cut := strings.LastIndexAny(p, ".[")
		if cut <= 0 {
			return 0
		}
		p = p[:cut]
	}
}
