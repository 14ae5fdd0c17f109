package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// connectionManager is the http_connection_manager and router of one listener: it picks the filter
// chain's route table, normalises the path, and redirects or proxies.
type connectionManager struct {
	listener  *listenerConf
	upstreams map[*clusterConf]*upstream
	access    *accessLog
}

func (m *connectionManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	entry := &logEntry{started: time.Now(), request: r, originalPath: r.RequestURI}
	var format *jsonAccessLog
	defer func() {
		entry.status = rec.status
		// Envoy's response flags for what the stand-in can tell: no route, an upstream that could not be
		// reached or did not answer in time (a local reply, without x-envoy-upstream-service-time).
		if entry.cluster != "" && rec.Header().Get("X-Envoy-Upstream-Service-Time") == "" {
			switch rec.status {
			case http.StatusServiceUnavailable:
				entry.flags = "UF"
			case http.StatusGatewayTimeout:
				entry.flags = "UT"
			}
		}
		m.access.write(format, entry)
	}()
	rec.Header().Set("Server", "envoy")
	// A missing x-request-id is made here, before routing, so the access log and the upstream see the same one.
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", requestID())
	}

	chain := m.listener.chainFor("")
	scheme := "http"
	if r.TLS != nil {
		chain, scheme = m.listener.chainFor(r.TLS.ServerName), "https"
	}
	if chain == nil || chain.hcm == nil {
		localReply(rec, http.StatusNotFound, "")
		return
	}
	hcm := chain.hcm
	format = hcm.accessLog
	if hcm.rejectUnderscores {
		for name := range r.Header {
			if strings.Contains(name, "_") {
				localReply(rec, http.StatusBadRequest, "")
				return
			}
		}
	}
	rawPath, query, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(rawPath, "/") { // absolute-form; Go has parsed it
		rawPath, query = r.URL.EscapedPath(), r.URL.RawQuery
	}
	path, ok := normalizeRequestPath(rawPath, hcm)
	if !ok {
		localReply(rec, http.StatusBadRequest, "")
		return
	}
	if hcm.unescapeSlashes {
		if unescaped := unescapeSlashes(path); unescaped != path {
			// UNESCAPE_AND_REDIRECT: the client is sent to the unescaped path and asks again.
			rec.Header().Set("Location", withQuery(unescaped, query))
			localReply(rec, http.StatusTemporaryRedirect, "")
			return
		}
	}
	host := strings.ToLower(r.Host)
	if hcm.stripPort {
		host = stripPort(host)
		r.Host = stripPort(r.Host)
	}
	route := hcm.route(host, path)
	if route == nil {
		entry.flags = "NR"
		localReply(rec, http.StatusNotFound, "")
		return
	}
	if route.redirect != nil {
		rec.Header().Set("Location", redirectLocation(route, scheme, r.Host, withQuery(path, query)))
		localReply(rec, http.StatusMovedPermanently, "")
		return
	}
	unescapedPath, err := url.PathUnescape(path)
	if err != nil {
		localReply(rec, http.StatusBadRequest, "")
		return
	}
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = unescapedPath, path, query
	entry.cluster, entry.upstreamHost = route.cluster.name, route.cluster.endpoint
	m.upstreams[route.cluster].serve(rec, r, route, scheme)
}

// route picks the virtual host by Envoy's order (exact domain, longest "*suffix", longest
// "prefix*", then "*") and its first route whose prefix the path starts with.
func (h *hcmConf) route(host, path string) *routeConf {
	var best *virtualHost
	bestRank, bestLen := 0, -1
	for _, vh := range h.virtualHosts {
		for _, d := range vh.domains {
			rank, n := 0, len(d)
			switch {
			case d == host:
				rank = 4
			case d == "*":
				rank = 1
			case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1:
				rank = 3
			case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:n-1]) && len(host) > n-1:
				rank = 2
			}
			if rank > bestRank || (rank == bestRank && rank > 0 && n > bestLen) {
				best, bestRank, bestLen = vh, rank, n
			}
		}
	}
	if best == nil {
		return nil
	}
	for _, r := range best.routes {
		if strings.HasPrefix(path, r.prefix) {
			return r
		}
	}
	return nil
}

// normalizeRequestPath applies normalize_path (RFC 3986: percent-decoding of unreserved characters,
// removal of dot segments) and merge_slashes, in Envoy's order. false: a path Envoy rejects (400).
func normalizeRequestPath(raw string, h *hcmConf) (string, bool) {
	path := raw
	if h.normalizePath {
		var b strings.Builder
		for i := 0; i < len(path); i++ {
			if path[i] != '%' {
				b.WriteByte(path[i])
				continue
			}
			if i+2 >= len(path) {
				return "", false
			}
			v, err := strconv.ParseUint(path[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			if c := byte(v); isUnreserved(c) {
				b.WriteByte(c)
			} else {
				b.WriteString("%" + strings.ToUpper(path[i+1:i+3]))
			}
			i += 2
		}
		path = removeDotSegments(b.String())
	}
	if h.mergeSlashes {
		for strings.Contains(path, "//") {
			path = strings.ReplaceAll(path, "//", "/")
		}
	}
	return path, true
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// removeDotSegments is RFC 3986 §5.2.4 on an absolute path.
func removeDotSegments(path string) string {
	var out []string
	segments := strings.Split(path, "/")[1:]
	for i, s := range segments {
		last := i == len(segments)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "") // "/a/." and "/a/b/.." keep their trailing slash
		}
	}
	return "/" + strings.Join(out, "/")
}

func unescapeSlashes(path string) string {
	return strings.NewReplacer("%2F", "/", "%2f", "/", "%5C", "\\", "%5c", "\\").Replace(path)
}

func withQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}

// redirectLocation: https_redirect swaps the scheme; port_redirect sets the port, otherwise a
// port that was the default of the request's scheme is dropped.
func redirectLocation(route *routeConf, scheme, host, pathAndQuery string) string {
	if route.redirect.GetHttpsRedirect() {
		scheme = "https"
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), ""
	}
	if p := route.redirect.GetPortRedirect(); p != 0 {
		port = strconv.FormatUint(uint64(p), 10)
	} else if port == "80" || port == "443" {
		port = ""
	}
	if port != "" {
		return fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(name, port), pathAndQuery)
	}
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	return fmt.Sprintf("%s://%s%s", scheme, name, pathAndQuery)
}

// localReply is a response Envoy makes itself (no upstream): a text body, or none.
func localReply(w http.ResponseWriter, status int, body string) {
	if body != "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
