package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// The connection manager's access log: `access_log` with one envoy.access_loggers.stdout
// (StdoutAccessLog) whose log_format is a json_format. Each request gets one JSON object on stdout,
// its keys in order, each value one command operator, typed as Envoy types them (a status and a
// duration are numbers; a value Envoy has not got is null). Without an access_log, nothing is logged,
// as with Envoy.

// logField is one key of the json_format and the command operator that fills it.
type logField struct {
	key      string
	operator string // START_TIME, REQ, RESPONSE_CODE, ...
	headers  []string
}

type jsonAccessLog struct {
	fields []logField
}

// operatorRE: the command operators the stand-in implements, each as the whole value.
var operatorRE = regexp.MustCompile(`^%(START_TIME|RESPONSE_CODE|RESPONSE_FLAGS|UPSTREAM_CLUSTER|UPSTREAM_HOST|DURATION|PROTOCOL|DOWNSTREAM_REMOTE_ADDRESS|REQ\(([A-Za-z0-9:_-]+)(\?([A-Za-z0-9:_-]+))?\))%$`)

func (b *builder) accessLogs(logs []*accesslogv3.AccessLog, path string) *jsonAccessLog {
	if len(logs) == 0 {
		return nil
	}
	if len(logs) > 1 {
		b.refuse(path, "more than one access log")
		return nil
	}
	here := path + "[0].typed_config"
	stdout := &streamv3.StdoutAccessLog{}
	if !unpack(logs[0].GetTypedConfig(), stdout) {
		b.refuse(here, "an access log other than envoy.access_loggers.stdout")
		return nil
	}
	format := stdout.GetLogFormat().GetJsonFormat()
	if format == nil {
		b.refuse(joinBase(here, "log_format"), "a log format other than json_format")
		return nil
	}
	out := &jsonAccessLog{}
	// A Struct's keys have no order on the wire; Envoy writes them sorted, and so does the stand-in.
	keys := make([]string, 0, len(format.GetFields()))
	for key := range format.GetFields() {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		value := format.GetFields()[key]
		_, ok := value.GetKind().(*structpb.Value_StringValue)
		m := operatorRE.FindStringSubmatch(value.GetStringValue())
		if !ok || m == nil {
			b.refuse(joinBase(here, "log_format.json_format."+key), "a value other than one command operator of START_TIME, REQ(...), RESPONSE_CODE, RESPONSE_FLAGS, UPSTREAM_CLUSTER, UPSTREAM_HOST, DURATION, PROTOCOL, DOWNSTREAM_REMOTE_ADDRESS")
			continue
		}
		field := logField{key: key, operator: m[1]}
		if m[2] != "" {
			field.operator = "REQ"
			field.headers = []string{m[2]}
			if m[4] != "" {
				field.headers = append(field.headers, m[4])
			}
		}
		out.fields = append(out.fields, field)
	}
	return out
}

// logEntry is what one request leaves for its log line.
type logEntry struct {
	started      time.Time
	request      *http.Request
	originalPath string // the path as the client sent it (x-envoy-original-path's source)
	status       int
	flags        string
	cluster      string
	upstreamHost string
}

// header: a request header as Envoy's REQ sees it; the pseudo-headers :authority, :method and :path.
func (e *logEntry) header(name string) (string, bool) {
	switch name {
	case ":authority", ":AUTHORITY":
		return e.request.Host, e.request.Host != ""
	case ":method", ":METHOD":
		return e.request.Method, true
	case ":path", ":PATH":
		return e.originalPath, e.originalPath != ""
	}
	values := e.request.Header.Values(name)
	if len(values) == 0 {
		return "", false
	}
	return values[0], true
}

func (l *jsonAccessLog) line(e *logEntry) []byte {
	var b []byte
	b = append(b, '{')
	for i, f := range l.fields {
		if i > 0 {
			b = append(b, ',')
		}
		key, _ := json.Marshal(f.key)
		b = append(b, key...)
		b = append(b, ':')
		b = append(b, l.value(f, e)...)
	}
	return append(b, '}', '\n')
}

func (l *jsonAccessLog) value(f logField, e *logEntry) []byte {
	str := func(s string, ok bool) []byte {
		if !ok || s == "" {
			return []byte("null")
		}
		out, _ := json.Marshal(s)
		return out
	}
	switch f.operator {
	case "START_TIME":
		return str(e.started.UTC().Format("2006-01-02T15:04:05.000Z"), true)
	case "RESPONSE_CODE":
		return []byte(strconv.Itoa(e.status))
	case "RESPONSE_FLAGS":
		if e.flags == "" {
			return str("-", true)
		}
		return str(e.flags, true)
	case "UPSTREAM_CLUSTER":
		return str(e.cluster, e.cluster != "")
	case "UPSTREAM_HOST":
		return str(e.upstreamHost, e.upstreamHost != "")
	case "DURATION":
		return []byte(strconv.FormatInt(time.Since(e.started).Milliseconds(), 10))
	case "PROTOCOL":
		return str(e.request.Proto, true)
	case "DOWNSTREAM_REMOTE_ADDRESS":
		return str(e.request.RemoteAddr, true)
	case "REQ":
		for _, name := range f.headers {
			if v, ok := e.header(name); ok {
				return str(v, true)
			}
		}
		return []byte("null")
	}
	return []byte("null")
}

// accessLog writes the lines of every listener to stdout, one write per line.
type accessLog struct {
	mu  sync.Mutex
	out io.Writer
}

func newAccessLog() *accessLog { return &accessLog{out: os.Stdout} }

func (a *accessLog) write(format *jsonAccessLog, e *logEntry) {
	if format == nil {
		return
	}
	line := format.line(e)
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.out.Write(line)
}
