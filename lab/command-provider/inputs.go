package main

import (
	"fmt"
	"math"
	"sort"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"golang.org/x/crypto/ssh"
)

// Input property names of command:remote:Command (pulumi-command 1.2.1 schema).
var inputKeys = []string{
	"connection", "create", "update", "delete", "stdin", "triggers",
	"environment", "logging", "addPreviousOutputInEnv",
}

// Properties of the remote Connection type. `proxy` is accepted by the schema but
// rejected by this stand-in.
var connectionKeys = map[string]bool{
	"host": true, "port": true, "user": true, "password": true, "privateKey": true,
	"privateKeyPassword": true, "hostKey": true, "agentSocketPath": true,
	"dialErrorLimit": true, "perDialTimeout": true, "proxy": true,
}

// Values of the Logging enum.
const (
	logStdout          = "stdout"
	logStderr          = "stderr"
	logStdoutAndStderr = "stdoutAndStderr"
	logNone            = "none"
)

// Connection defaults, as in the schema (the Node SDK applies them too).
const (
	defaultPort           = 22
	defaultUser           = "root"
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

type connection struct {
	Host               string
	Port               int
	User               string
	Password           *string
	PrivateKey         *string
	PrivateKeyPassword *string
	HostKey            *string
	AgentSocketPath    *string
	DialErrorLimit     int // < 0: unlimited
	PerDialTimeout     int // seconds, 0: no maximum
}

// A command string and whether the program marked it secret (then it is never
// printed in errors).
type commandText struct {
	Text   string
	Secret bool
}

type commandInputs struct {
	Connection             connection
	Create, Update, Delete *commandText
	Stdin                  *string
	Environment            map[string]string
	Logging                string // "" means the default: stdout and stderr
	AddPreviousOutputInEnv bool
}

func (c commandInputs) logStdout() bool {
	return c.Logging == "" || c.Logging == logStdout || c.Logging == logStdoutAndStderr
}

func (c commandInputs) logStderr() bool {
	return c.Logging == "" || c.Logging == logStderr || c.Logging == logStdoutAndStderr
}

// failures collects Check failures; with allowUnknown, unknown values are
// skipped instead of reported (preview).
type decoder struct {
	allowUnknown bool
	failures     []p.CheckFailure
	unknown      bool // some value needed later is not known yet
}

func (d *decoder) fail(prop, format string, a ...any) {
	d.failures = append(d.failures, p.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, a...)})
}

// get returns the value without its (top-level) secret marker, and whether it
// is set at all. Unknown values count as set and are flagged.
func (d *decoder) get(m property.Map, key, path string) (property.Value, bool) {
	v, ok := m.GetOk(key)
	if !ok {
		return property.Value{}, false
	}
	v = v.WithSecret(false)
	if v.IsNull() {
		return v, false
	}
	if v.IsComputed() {
		d.unknown = true
		if !d.allowUnknown {
			d.fail(path, "%s is unknown", path)
		}
		return v, false
	}
	return v, true
}

func (d *decoder) str(m property.Map, key, path string) *string {
	v, ok := d.get(m, key, path)
	if !ok {
		return nil
	}
	if !v.IsString() {
		d.fail(path, "%s must be a string", path)
		return nil
	}
	s := v.AsString()
	return &s
}

func (d *decoder) integer(m property.Map, key, path string, def int) int {
	v, ok := d.get(m, key, path)
	if !ok {
		return def
	}
	if !v.IsNumber() {
		d.fail(path, "%s must be a number", path)
		return def
	}
	n := v.AsNumber()
	if n != math.Trunc(n) || math.Abs(n) > 1<<31 {
		d.fail(path, "%s must be an integer", path)
		return def
	}
	return int(n)
}

func (d *decoder) command(m property.Map, key string) *commandText {
	raw, present := m.GetOk(key)
	s := d.str(m, key, key)
	if s == nil || *s == "" {
		// An empty command is treated like an absent one.
		return nil
	}
	return &commandText{Text: *s, Secret: present && raw.HasSecrets()}
}

// decodeInputs reads command:remote:Command inputs (or state, which holds the
// inputs plus stdout/stderr) into Go values and validates them. It never puts
// property values into failure messages: connection values are secrets.
func decodeInputs(m property.Map, allowUnknown bool) (commandInputs, *decoder) {
	d := &decoder{allowUnknown: allowUnknown}
	var in commandInputs

	connV, ok := d.get(m, "connection", "connection")
	if !ok {
		if !connV.IsComputed() {
			d.fail("connection", "connection is required")
		}
	} else if !connV.IsMap() {
		d.fail("connection", "connection must be an object")
	} else {
		in.Connection = d.connection(connV.AsMap())
	}

	in.Create = d.command(m, "create")
	in.Update = d.command(m, "update")
	in.Delete = d.command(m, "delete")
	in.Stdin = d.str(m, "stdin", "stdin")

	if envV, ok := d.get(m, "environment", "environment"); ok {
		if !envV.IsMap() {
			d.fail("environment", "environment must be a map of strings")
		} else {
			in.Environment = map[string]string{}
			envM := envV.AsMap()
			for _, k := range sortedKeys(envM) {
				if s := d.str(envM, k, "environment."+k); s != nil {
					in.Environment[k] = *s
				}
			}
		}
	}

	if l := d.str(m, "logging", "logging"); l != nil {
		switch *l {
		case logStdout, logStderr, logStdoutAndStderr, logNone:
			in.Logging = *l
		default:
			d.fail("logging", "logging must be one of %q, %q, %q, %q (got %q)",
				logStdout, logStderr, logStdoutAndStderr, logNone, *l)
		}
	}

	in.AddPreviousOutputInEnv = true
	if v, ok := d.get(m, "addPreviousOutputInEnv", "addPreviousOutputInEnv"); ok {
		if !v.IsBool() {
			d.fail("addPreviousOutputInEnv", "addPreviousOutputInEnv must be a boolean")
		} else {
			in.AddPreviousOutputInEnv = v.AsBool()
		}
	}

	if v, ok := d.get(m, "triggers", "triggers"); ok && !v.IsArray() {
		d.fail("triggers", "triggers must be an array")
	}
	return in, d
}

func (d *decoder) connection(m property.Map) connection {
	c := connection{
		Port:           defaultPort,
		User:           defaultUser,
		DialErrorLimit: defaultDialErrorLimit,
		PerDialTimeout: defaultPerDialTimeout,
	}
	for _, k := range sortedKeys(m) {
		if !connectionKeys[k] {
			d.fail("connection."+k, "connection.%s is not a property of command:remote:Connection", k)
		}
	}
	if _, ok := d.get(m, "proxy", "connection.proxy"); ok {
		d.fail("connection.proxy", "connection.proxy (bastion host) is not supported by the lab stand-in "+
			"pulumi-resource-command (limen-infra lab/command-provider); connect to the host directly")
	}
	if h := d.str(m, "host", "connection.host"); h != nil {
		c.Host = *h
		if *h == "" {
			d.fail("connection.host", "connection.host must not be empty")
		}
	} else if v, _ := m.GetOk("host"); !v.WithSecret(false).IsComputed() {
		d.fail("connection.host", "connection.host is required")
	}
	c.Port = d.integer(m, "port", "connection.port", defaultPort)
	if c.Port < 1 || c.Port > 65535 {
		d.fail("connection.port", "connection.port must be between 1 and 65535")
	}
	if u := d.str(m, "user", "connection.user"); u != nil {
		c.User = *u
	}
	c.Password = d.str(m, "password", "connection.password")
	c.PrivateKey = d.str(m, "privateKey", "connection.privateKey")
	c.PrivateKeyPassword = d.str(m, "privateKeyPassword", "connection.privateKeyPassword")
	c.AgentSocketPath = d.str(m, "agentSocketPath", "connection.agentSocketPath")
	c.HostKey = d.str(m, "hostKey", "connection.hostKey")
	if c.HostKey != nil {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey)); err != nil {
			d.fail("connection.hostKey", "connection.hostKey must be one public key in authorized_keys "+
				"format, e.g. \"ssh-ed25519 AAAA...\" (%v)", err)
		}
	}
	c.DialErrorLimit = d.integer(m, "dialErrorLimit", "connection.dialErrorLimit", defaultDialErrorLimit)
	c.PerDialTimeout = d.integer(m, "perDialTimeout", "connection.perDialTimeout", defaultPerDialTimeout)
	if c.PerDialTimeout < 0 {
		d.fail("connection.perDialTimeout", "connection.perDialTimeout must be >= 0 (0: no maximum)")
	}
	return c
}

func (d *decoder) err() error {
	if len(d.failures) == 0 {
		return nil
	}
	msg := "invalid command:remote:Command inputs:"
	for _, f := range d.failures {
		msg += "\n  " + f.Reason
	}
	return fmt.Errorf("%s", msg)
}

func sortedKeys(m property.Map) []string {
	keys := make([]string, 0, m.Len())
	for k := range m.All {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// outputString reads stdout/stderr from a state map.
func outputString(m property.Map, key string) string {
	v := m.Get(key).WithSecret(false)
	if v.IsString() {
		return v.AsString()
	}
	return ""
}
