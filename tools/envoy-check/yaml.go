// How Envoy turns a YAML bootstrap into JSON before it parses it (yaml-cpp's scalars, booleans and
// integers), reproduced into the document tree (tree.go).

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

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
