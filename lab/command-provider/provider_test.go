package main

import (
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

const testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func inputs(mut func(map[string]property.Value)) property.Map {
	conn := property.New(map[string]property.Value{
		"host":           property.New("127.0.0.1"),
		"port":           property.New(2222.0),
		"user":           property.New("root"),
		"privateKey":     property.New("KEY").WithSecret(true),
		"hostKey":        property.New(testHostKey),
		"dialErrorLimit": property.New(10.0),
		"perDialTimeout": property.New(15.0),
	}).WithSecret(true)
	m := map[string]property.Value{
		"connection": conn,
		"create":     property.New("cat > /tmp/f"),
		"update":     property.New("cat > /tmp/f"),
		"delete":     property.New("rm -f /tmp/f"),
		"stdin":      property.New("hello"),
		"triggers":   property.New([]property.Value{property.New("abc")}),
	}
	if mut != nil {
		mut(m)
	}
	return property.NewMap(m)
}

func TestDiffNoChanges(t *testing.T) {
	d := computeDiff(inputs(nil), inputs(nil), nil, "documented")
	if d.HasChanges || len(d.DetailedDiff) != 0 {
		t.Fatalf("want no changes, got %+v", d)
	}
}

func TestDiffSecretnessAloneIsNoChange(t *testing.T) {
	news := inputs(func(m map[string]property.Value) { m["stdin"] = m["stdin"].WithSecret(true) })
	if d := computeDiff(inputs(nil), news, nil, "documented"); d.HasChanges {
		t.Fatalf("want no changes, got %+v", d)
	}
}

func TestDiffStdinIsUpdate(t *testing.T) {
	news := inputs(func(m map[string]property.Value) { m["stdin"] = property.New("bye") })
	d := computeDiff(inputs(nil), news, nil, "documented")
	if !d.HasChanges || d.DetailedDiff["stdin"].Kind != p.Update || len(d.DetailedDiff) != 1 {
		t.Fatalf("want stdin update, got %+v", d)
	}
}

func TestDiffTriggers(t *testing.T) {
	newTriggers := func(m map[string]property.Value) {
		m["triggers"] = property.New([]property.Value{property.New("def")})
	}
	d := computeDiff(inputs(nil), inputs(newTriggers), nil, "documented")
	if d.DetailedDiff["triggers"].Kind != p.Update {
		t.Fatalf("with update set: want update, got %+v", d)
	}
	for k := range d.DetailedDiff {
		if strings.Contains(k, "[") {
			t.Fatalf("detailed diff must use top-level keys only, got %q", k)
		}
	}
	noUpdate := func(m map[string]property.Value) { newTriggers(m); delete(m, "update") }
	oldNoUpdate := func(m map[string]property.Value) { delete(m, "update") }
	d = computeDiff(inputs(oldNoUpdate), inputs(noUpdate), nil, "documented")
	if d.DetailedDiff["triggers"].Kind != p.UpdateReplace {
		t.Fatalf("without update: want replace, got %+v", d)
	}
	d = computeDiff(inputs(nil), inputs(newTriggers), nil, "upstream")
	if d.DetailedDiff["triggers"].Kind != p.UpdateReplace {
		t.Fatalf("upstream mode: want replace, got %+v", d)
	}
}

func TestDiffUnknownIsChange(t *testing.T) {
	news := inputs(func(m map[string]property.Value) { m["stdin"] = property.New(property.Computed) })
	if d := computeDiff(inputs(nil), news, nil, "documented"); d.DetailedDiff["stdin"].Kind != p.Update {
		t.Fatalf("want update for unknown stdin, got %+v", d)
	}
}

func TestDiffAddPreviousOutputDefault(t *testing.T) {
	olds := inputs(func(m map[string]property.Value) { m["addPreviousOutputInEnv"] = property.New(true) })
	if d := computeDiff(olds, inputs(nil), nil, "documented"); d.HasChanges {
		t.Fatalf("explicit default vs absent: want no changes, got %+v", d)
	}
}

func TestDecode(t *testing.T) {
	in, d := decodeInputs(inputs(nil), false)
	if err := d.err(); err != nil {
		t.Fatal(err)
	}
	c := in.Connection
	if c.Host != "127.0.0.1" || c.Port != 2222 || c.User != "root" || *c.PrivateKey != "KEY" ||
		c.DialErrorLimit != 10 || c.PerDialTimeout != 15 || !in.AddPreviousOutputInEnv {
		t.Fatalf("bad decode: %+v", in)
	}
	if !in.logStdout() || !in.logStderr() {
		t.Fatal("default logging must log both streams")
	}
}

func TestCheckFailures(t *testing.T) {
	bad := inputs(func(m map[string]property.Value) {
		conn := m["connection"].WithSecret(false).AsMap().
			Set("proxy", property.New(map[string]property.Value{"host": property.New("bastion")})).
			Set("hostKey", property.New("not a key"))
		m["connection"] = property.New(conn).WithSecret(true)
		m["logging"] = property.New("loud")
	})
	_, d := decodeInputs(bad, true)
	got := map[string]bool{}
	for _, f := range d.failures {
		got[f.Property] = true
		if strings.Contains(f.Reason, "KEY") {
			t.Fatalf("failure leaks a secret: %s", f.Reason)
		}
	}
	for _, want := range []string{"connection.proxy", "connection.hostKey", "logging"} {
		if !got[want] {
			t.Errorf("missing failure for %s: %+v", want, d.failures)
		}
	}
}

func TestCheckAllowsUnknowns(t *testing.T) {
	in := inputs(func(m map[string]property.Value) {
		m["connection"] = property.New(property.Computed)
		m["stdin"] = property.New(property.Computed)
	})
	if _, d := decodeInputs(in, true); len(d.failures) != 0 {
		t.Fatalf("unknowns must pass Check in preview: %+v", d.failures)
	}
}

func TestOutputsKeepSecrets(t *testing.T) {
	out := outputsFromInputs(inputs(nil), property.New("o"), property.New("e"))
	if !out.Get("connection").Secret() ||
		!out.Get("connection").WithSecret(false).AsMap().Get("privateKey").Secret() {
		t.Fatal("connection secrets lost in outputs")
	}
	if out.Get("stdout").AsString() != "o" || out.Get("stderr").AsString() != "e" {
		t.Fatal("stdout/stderr missing")
	}
}
