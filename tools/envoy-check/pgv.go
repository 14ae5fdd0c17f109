// The protoc-gen-validate rules: running go-control-plane's generated validators and reading their
// errors back into field paths of the document.

package main

import (
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// validate runs the generated protoc-gen-validate validator of m, if it has one, and reports each
// violation at its field path.
func (c *checker) validate(m proto.Message, path string) {
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		return
	}
	if err := v.ValidateAll(); err != nil {
		c.pgv(err, m.ProtoReflect().Descriptor(), path)
	}
}

// The shapes of the errors protoc-gen-validate generates: one XValidationError per violation, an
// XMultiError from ValidateAll, and "embedded message failed validation" with the inner error as cause.
type pgvFieldError interface {
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

type pgvMultiError interface{ AllErrors() []error }

var pgvFieldRE = regexp.MustCompile(`^([A-Za-z0-9_]+)(?:\[(.*)\])?$`)

func (c *checker) pgv(err error, md protoreflect.MessageDescriptor, path string) {
	if multi, ok := err.(pgvMultiError); ok {
		for _, e := range multi.AllErrors() {
			c.pgv(e, md, path)
		}
		return
	}
	fe, ok := err.(pgvFieldError)
	if !ok {
		c.add(path, "%s", err.Error())
		return
	}
	reason := fe.Reason()
	if fe.Key() {
		reason = "map key: " + reason
	}
	name, index := fe.Field(), ""
	if m := pgvFieldRE.FindStringSubmatch(fe.Field()); m != nil {
		name, index = m[1], m[2]
	}
	if fd := fieldByGoName(md, name); fd != nil {
		here := joinBase(path, string(fd.Name()))
		switch {
		case fe.Key() || index == "":
		case fd.IsMap():
			here = joinPath(here, index)
		default:
			here = fmt.Sprintf("%s[%s]", here, index)
		}
		if cause := fe.Cause(); cause != nil {
			sub := fd.Message()
			if fd.IsMap() {
				sub = fd.MapValue().Message()
			}
			if sub != nil {
				c.pgv(cause, sub, here)
			} else {
				c.add(here, "%s: %v", reason, cause)
			}
			return
		}
		c.add(here, "%s", reason)
		return
	}
	if od := oneofByGoName(md, name); od != nil && fe.Cause() == nil {
		if reason == "value is required" {
			var members []string
			for i := 0; i < od.Fields().Len(); i++ {
				members = append(members, string(od.Fields().Get(i).Name()))
			}
			c.add(path, "one of %s is required (oneof %s)", strings.Join(members, ", "), od.Name())
			return
		}
		c.add(joinBase(path, string(od.Name())), "%s", reason)
		return
	}
	if cause := fe.Cause(); cause != nil {
		reason = fmt.Sprintf("%s: %v", reason, cause)
	}
	c.add(joinBase(path, fe.Field()), "%s", reason)
}

// goNameKey compares a proto field name with the Go name PGV reports (stat_prefix ~ StatPrefix).
func goNameKey(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

func fieldByGoName(md protoreflect.MessageDescriptor, goName string) protoreflect.FieldDescriptor {
	if md == nil {
		return nil
	}
	want := goNameKey(goName)
	for i := 0; i < md.Fields().Len(); i++ {
		if fd := md.Fields().Get(i); goNameKey(string(fd.Name())) == want {
			return fd
		}
	}
	return nil
}

func oneofByGoName(md protoreflect.MessageDescriptor, goName string) protoreflect.OneofDescriptor {
	if md == nil {
		return nil
	}
	want := goNameKey(goName)
	for i := 0; i < md.Oneofs().Len(); i++ {
		if od := md.Oneofs().Get(i); goNameKey(string(od.Name())) == want {
			return od
		}
	}
	return nil
}
