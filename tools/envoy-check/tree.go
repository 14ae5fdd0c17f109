// The document tree the checks read: JSON values that keep their member order and YAML line numbers,
// and reading JSON into one (a TypedStruct's value, as Envoy re-reads it). yaml.go reads YAML into it,
// locate.go encodes it and finds where a problem sits.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
