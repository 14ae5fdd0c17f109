package main

// Run with lab/envoy/build.sh --test: the package is this directory with tools/envoy-check's sources.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

func TestChainForPicksBySNIAsEnvoy(t *testing.T) {
	limen := &chainConf{serverNames: []string{"limen.test"}}
	darc := &chainConf{serverNames: []string{"darc.test", "*.darc.test"}}
	fallback := &chainConf{}
	l := &listenerConf{chains: []*chainConf{limen, darc}, fallback: fallback}
	for name, want := range map[string]*chainConf{
		"limen.test": limen, "LIMEN.test.": limen, "darc.test": darc, "www.darc.test": darc,
		"a.b.darc.test": darc, "xdarc.test": fallback, "": fallback, "other.test": fallback,
	} {
		if got := l.chainFor(name); got != want {
			t.Errorf("chainFor(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRoutePicksVirtualHostInEnvoysOrder(t *testing.T) {
	route := func(name string) *routeConf { return &routeConf{prefix: "/", cluster: &clusterConf{name: name}} }
	h := &hcmConf{virtualHosts: []*virtualHost{
		{domains: []string{"*"}, routes: []*routeConf{route("any")}},
		{domains: []string{"*.test"}, routes: []*routeConf{route("suffix")}},
		{domains: []string{"*.darc.test"}, routes: []*routeConf{route("longer-suffix")}},
		{domains: []string{"api.*"}, routes: []*routeConf{route("prefix")}},
		{domains: []string{"limen.test"}, routes: []*routeConf{{prefix: "/api/", cluster: &clusterConf{name: "backend"}}, route("exact")}},
	}}
	for _, c := range []struct{ host, path, want string }{
		{"limen.test", "/", "exact"}, {"limen.test", "/api/x", "backend"}, {"www.darc.test", "/", "longer-suffix"},
		{"x.test", "/", "suffix"}, {"api.example", "/", "prefix"}, {"example", "/", "any"},
	} {
		if got := h.route(c.host, c.path); got == nil || got.cluster.name != c.want {
			t.Errorf("route(%q, %q) = %v, want %s", c.host, c.path, got, c.want)
		}
	}
}

func TestNormalizeRequestPath(t *testing.T) {
	h := &hcmConf{normalizePath: true, mergeSlashes: true}
	for raw, want := range map[string]string{
		"/a/./b/../c": "/a/c", "/a//b///c": "/a/b/c", "/%61%2d%7e": "/a-~", "/a%2fb": "/a%2Fb",
		"/a/..": "/", "/../../x": "/x", "/a/b/..": "/a/",
	} {
		if got, ok := normalizeRequestPath(raw, h); !ok || got != want {
			t.Errorf("normalizeRequestPath(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	if _, ok := normalizeRequestPath("/a%zz", h); ok {
		t.Error("an invalid percent-encoding must be refused (400)")
	}
	if got := unescapeSlashes("/a%2Fb%5cc"); got != `/a/b\c` {
		t.Errorf("unescapeSlashes = %q", got)
	}
}

func TestRedirectLocation(t *testing.T) {
	withPort := &routeConf{redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}, PortRedirect: 8443}}
	plain := &routeConf{redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}}
	for _, c := range []struct {
		route      *routeConf
		host, want string
	}{
		{withPort, "limen.test:8080", "https://limen.test:8443/p?q"},
		{plain, "limen.test", "https://limen.test/p?q"},
		{plain, "limen.test:80", "https://limen.test/p?q"},
		{plain, "[::1]:80", "https://[::1]/p?q"},
	} {
		if got := redirectLocation(c.route, "http", c.host, "/p?q"); got != c.want {
			t.Errorf("redirectLocation(%q) = %q, want %q", c.host, got, c.want)
		}
	}
}

// fakeTransport fails its first `fail` round trips, before (or after) writing the headers, as a
// refused connection (or a reset after the request was sent) does; a success reads the body.
type fakeTransport struct {
	fail, calls  int
	afterHeaders bool
	bodies       []string
}

func (f *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls++
	if f.calls <= f.fail {
		if f.afterHeaders {
			httptrace.ContextClientTrace(req.Context()).WroteHeaders()
		}
		return nil, errors.New("connection refused")
	}
	body, _ := io.ReadAll(req.Body)
	f.bodies = append(f.bodies, string(body))
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestRetryResetBeforeRequest(t *testing.T) {
	post := func(retries int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "http://upstream/", strings.NewReader("form=1"))
		state := &routeState{route: &routeConf{retries: retries}}
		return req.WithContext(context.WithValue(req.Context(), routeKey{}, state))
	}
	before := &fakeTransport{fail: 2}
	if resp, err := (&retrying{base: before}).RoundTrip(post(2)); err != nil || resp.StatusCode != 200 || before.calls != 3 {
		t.Fatalf("a request not written is retried: calls %d, err %v", before.calls, err)
	}
	if strings.Join(before.bodies, "|") != "form=1" {
		t.Errorf("the body must reach the try that succeeds: %q", before.bodies)
	}
	after := &fakeTransport{fail: 1, afterHeaders: true}
	if _, err := (&retrying{base: after}).RoundTrip(post(2)); err == nil || after.calls != 1 {
		t.Errorf("a request whose headers were written is not retried: calls %d", after.calls)
	}
	none := &fakeTransport{fail: 1}
	if _, err := (&retrying{base: none}).RoundTrip(post(0)); err == nil || none.calls != 1 {
		t.Errorf("without a retry policy nothing is retried: calls %d", none.calls)
	}
}

// upstreamOnce answers each request once per connection and then closes it without a word, as a
// server that closes an idle kept-alive connection under a client's request does; it counts the
// requests that reached it and the connections it saw.
func upstreamOnce(t *testing.T) (addr string, requests, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	requests, conns = new(atomic.Int64), new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				first, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				requests.Add(1)
				if first.Close { // as Node does: the answer says so, and the connection ends
					io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// The second request on this connection is read, then the connection is dropped.
				if _, err := http.ReadRequest(r); err == nil {
					requests.Add(1)
				}
			}(c)
		}
	}()
	return ln.Addr().String(), requests, conns
}

func TestWrittenGetIsNotResent(t *testing.T) {
	addr, requests, _ := upstreamOnce(t)
	u := newUpstream(&clusterConf{name: "app", endpoint: addr, connectTimeout: time.Second, idleTimeout: time.Minute})
	get := func() int {
		req := httptest.NewRequest(http.MethodGet, "http://limen.test/", nil)
		rec := httptest.NewRecorder()
		u.serve(rec, req, &routeConf{retries: 2}, "https")
		return rec.Code
	}
	if code := get(); code != 200 {
		t.Fatalf("first GET: %d", code)
	}
	// Reused connection, written, then closed: Envoy answers 503 and does not send it again.
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("a GET written on a connection the app then closed: %d, want 503", code)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the app saw %d requests, want 2 (no resend)", n)
	}
}

func TestOneRequestPerConnection(t *testing.T) {
	addr, requests, conns := upstreamOnce(t)
	u := newUpstream(&clusterConf{name: "app", endpoint: addr, connectTimeout: time.Second, idleTimeout: time.Minute, oneRequestPerConnection: true})
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest(http.MethodGet, "http://limen.test/", nil)
		rec := httptest.NewRecorder()
		u.serve(rec, req, &routeConf{}, "https")
		if rec.Code != 200 {
			t.Fatalf("request %d: %d (max_requests_per_connection 1 must never reuse a connection)", i, rec.Code)
		}
	}
	if c, r := conns.Load(), requests.Load(); c != 3 || r != 3 {
		t.Errorf("connections %d, requests %d: want one connection per request", c, r)
	}
}
