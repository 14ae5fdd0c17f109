// Where a problem is: the tree encoded as one-line JSON with the span of every member and item (so a
// protojson error's offset names a field path), field paths, and the YAML line of each path.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

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
