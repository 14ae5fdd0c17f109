package main

import (
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// triggersMode selects what a change of `triggers` does.
//
//   - "upstream" (default): always a replacement, which is what the real
//     provider does with the Node SDK (pulumi/pulumi-command#855: `triggers` is
//     tagged replaceOnChanges in the provider and the SDKs add replaceOnChanges
//     ["triggers[*]"]). The lab rehearses what production will do.
//   - "documented": as the pulumi-command 1.2.1 docs say: an update when the
//     new inputs have an `update` command, otherwise a replacement.
//
// Set with LIMEN_COMMAND_PROVIDER_TRIGGERS in the environment of the engine.
func triggersMode() string {
	if os.Getenv("LIMEN_COMMAND_PROVIDER_TRIGGERS") == "documented" {
		return "documented"
	}
	return "upstream"
}

// computeDiff compares old inputs with new inputs. Only top-level property
// names are reported in the detailed diff (e.g. "triggers", never
// "triggers[0]"), so the engine's replaceOnChanges ["triggers[*]"], which the
// Node SDK adds to every Command, does not match: the replace decision stays
// here.
func computeDiff(olds, news property.Map, ignoreChanges []string, mode string) p.DiffResponse {
	ignored := map[string]bool{}
	for _, k := range ignoreChanges {
		ignored[k] = true
	}
	detailed := map[string]p.PropertyDiff{}
	for _, k := range inputKeys {
		if ignored[k] {
			continue
		}
		o, n := olds.Get(k), news.Get(k)
		if k == "addPreviousOutputInEnv" {
			// Absent means true (the schema default); state written by the real
			// provider carries the default explicitly.
			o, n = defaultBool(o, true), defaultBool(n, true)
		}
		if !n.HasComputed() && equalValues(o, n) {
			continue
		}
		kind := p.Update
		switch {
		case isAbsent(o) && !isAbsent(n):
			kind = p.Add
		case !isAbsent(o) && isAbsent(n):
			kind = p.Delete
		}
		detailed[k] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}

	resp := p.DiffResponse{HasChanges: len(detailed) > 0, DetailedDiff: detailed}
	if td, ok := detailed["triggers"]; ok && (mode == "upstream" || !hasUpdateCommand(news)) {
		switch td.Kind {
		case p.Add:
			td.Kind = p.AddReplace
		case p.Delete:
			td.Kind = p.DeleteReplace
		default:
			td.Kind = p.UpdateReplace
		}
		detailed["triggers"] = td
	}
	return resp
}

// hasUpdateCommand: a non-empty `update`, or an unknown one (preview; the real
// run diffs again with the known value).
func hasUpdateCommand(news property.Map) bool {
	v := news.Get("update").WithSecret(false)
	if v.IsComputed() {
		return true
	}
	return v.IsString() && v.AsString() != ""
}

func isAbsent(v property.Value) bool { return v.WithSecret(false).IsNull() }

func defaultBool(v property.Value, def bool) property.Value {
	if isAbsent(v) {
		return property.New(def)
	}
	return v
}

// equalValues compares two values ignoring secret markers and dependencies
// (whether a value is secret is the engine's business, and a change of it alone
// must not re-run a command). A missing map entry equals null.
func equalValues(a, b property.Value) bool {
	a, b = a.WithSecret(false), b.WithSecret(false)
	switch {
	case a.IsNull() || b.IsNull():
		return a.IsNull() && b.IsNull()
	case a.IsComputed() || b.IsComputed():
		return false
	case a.IsString() && b.IsString():
		return a.AsString() == b.AsString()
	case a.IsNumber() && b.IsNumber():
		return a.AsNumber() == b.AsNumber()
	case a.IsBool() && b.IsBool():
		return a.AsBool() == b.AsBool()
	case a.IsArray() && b.IsArray():
		x, y := a.AsArray(), b.AsArray()
		if x.Len() != y.Len() {
			return false
		}
		for i := 0; i < x.Len(); i++ {
			if !equalValues(x.Get(i), y.Get(i)) {
				return false
			}
		}
		return true
	case a.IsMap() && b.IsMap():
		x, y := a.AsMap(), b.AsMap()
		for k, v := range x.All {
			if !equalValues(v, y.Get(k)) {
				return false
			}
		}
		for k, v := range y.All {
			if _, ok := x.GetOk(k); !ok && !isAbsent(v) {
				return false
			}
		}
		return true
	default:
		// Assets, archives, resource references: the property package's own
		// equality (after dropping the top-level secret marker and dependencies).
		return a.WithDependencies(nil).Equals(b.WithDependencies(nil))
	}
}

// cleanValue copies a value for returning it as an output: secret markers are
// kept (nested too), resource dependencies are dropped (outputs are plain
// values, not output values).
func cleanValue(v property.Value) property.Value {
	var out property.Value
	switch {
	case v.IsArray():
		arr := v.AsArray()
		elems := make([]property.Value, 0, arr.Len())
		for _, e := range arr.All {
			elems = append(elems, cleanValue(e))
		}
		out = property.New(elems)
	case v.IsMap():
		m := map[string]property.Value{}
		for k, e := range v.AsMap().All {
			m[k] = cleanValue(e)
		}
		out = property.New(m)
	default:
		out = v.WithDependencies(nil)
	}
	return out.WithSecret(v.Secret())
}

// outputsFromInputs: the input properties (cleaned) plus stdout and stderr.
func outputsFromInputs(inputs property.Map, stdout, stderr property.Value) property.Map {
	m := map[string]property.Value{}
	for _, k := range inputKeys {
		if v, ok := inputs.GetOk(k); ok && !v.IsNull() {
			m[k] = cleanValue(v)
		}
	}
	m["stdout"] = stdout
	m["stderr"] = stderr
	return property.NewMap(m)
}
