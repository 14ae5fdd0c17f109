package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"time"
)

// upstream is one STATIC cluster: a keep-alive pool to its one endpoint, over HTTP/1.1.
type upstream struct {
	cluster   *clusterConf
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

type routeKey struct{}

// routeState is what one proxied request carries to the transport and the error handler.
type routeState struct {
	route   *routeConf
	scheme  string
	started time.Time
}

func newUpstream(c *clusterConf) *upstream {
	dialer := &net.Dialer{Timeout: c.connectTimeout}
	u := &upstream{cluster: c}
	u.transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", c.endpoint)
		},
		// max_requests_per_connection 1: every request on a connection of its own, closed after it.
		DisableKeepAlives:   c.oneRequestPerConnection,
		IdleConnTimeout:     c.idleTimeout,
		MaxIdleConnsPerHost: 1024,
		// The client's Accept-Encoding and the body go through as they are.
		DisableCompression: true,
	}
	u.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			state := pr.In.Context().Value(routeKey{}).(*routeState)
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", c.endpoint
			pr.Out.Host = pr.In.Host // Host/:authority as the client sent it (port stripped if configured)
			// use_remote_address: the peer is appended to x-forwarded-for, x-forwarded-proto is the
			// downstream connection's scheme (Rewrite starts with both removed).
			peer, _, _ := net.SplitHostPort(pr.In.RemoteAddr)
			if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
				peer = joinHeader(prior) + ", " + peer
			}
			pr.Out.Header.Set("X-Forwarded-For", peer)
			pr.Out.Header.Set("X-Forwarded-Proto", state.scheme)
			if pr.Out.Header.Get("X-Request-Id") == "" {
				pr.Out.Header.Set("X-Request-Id", requestID())
			}
			if state.route.timeout > 0 {
				pr.Out.Header.Set("X-Envoy-Expected-Rq-Timeout-Ms", strconv.FormatInt(state.route.timeout.Milliseconds(), 10))
			}
		},
		Transport:     &retrying{base: u.transport},
		FlushInterval: -1, // stream as Envoy does (Next.js streams its pages)
		ModifyResponse: func(resp *http.Response) error {
			state := resp.Request.Context().Value(routeKey{}).(*routeState)
			resp.Header.Set("Server", "envoy")
			resp.Header.Set("X-Envoy-Upstream-Service-Time", strconv.FormatInt(time.Since(state.started).Milliseconds(), 10))
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				localReply(w, http.StatusGatewayTimeout, "upstream request timeout")
				return
			}
			reason := "connection termination"
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				reason = "connection failure"
			}
			localReply(w, http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: "+reason)
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request, route *routeConf, scheme string) {
	ctx := context.WithValue(r.Context(), routeKey{}, &routeState{route: route, scheme: scheme, started: time.Now()})
	if route.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, route.timeout)
		defer cancel()
	}
	u.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func joinHeader(values []string) string {
	out := values[0]
	for _, v := range values[1:] {
		out += ", " + v
	}
	return out
}

// retrying is the router's part of a round trip, as Envoy does it:
//   - retry_policy{retry_on: reset-before-request}: a request whose headers were never written (the
//     connection could not be made, or failed first) is sent again, up to num_retries times, with
//     Envoy's 25 ms base backoff; it never reached the app, so a POST is safe to resend.
//   - Nothing else is retried. Go's transport by itself resends a GET whose connection was closed
//     after the request was written; Envoy does not (it counts a request as sent once the pool hands
//     it a connection), so no request is left replayable for Go.
type retrying struct{ base http.RoundTripper }

type keepOpen struct{ io.ReadCloser }

// Close leaves the client's body open for the next try; the server closes it after the handler.
func (keepOpen) Close() error { return nil }

// noBody is an empty body that Go's transport cannot replay: it sends no body for it (it probes and
// finds EOF), and it does not resend the request on its own after it was written.
type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }
func (noBody) Close() error             { return nil }

func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	state, _ := req.Context().Value(routeKey{}).(*routeState)
	retries := 0
	if state != nil {
		retries = state.route.retries
	}
	switch {
	case req.Body != nil && req.Body != http.NoBody:
		req.Body, req.GetBody = keepOpen{req.Body}, nil
	case req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions:
		// The methods Go would resend (a body-less POST or PUT it already does not).
		req.Body, req.ContentLength, req.GetBody = noBody{}, 0, nil
	}
	for attempt := 0; ; attempt++ {
		var wrote atomic.Bool
		trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
		resp, err := t.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		if err == nil || attempt >= retries || wrote.Load() || req.Context().Err() != nil {
			return resp, err
		}
		select {
		case <-time.After(time.Duration(25*(attempt+1)) * time.Millisecond):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// recorder notes the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
