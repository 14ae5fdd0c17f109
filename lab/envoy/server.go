package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// serve binds every listener (a port in use fails the start, as it does for Envoy), serves until
// SIGTERM or SIGINT, then stops accepting and exits promptly (docker stop).
func serve(cfg *config, opts options) error {
	connections := &connCap{max: cfg.maxConns}
	upstreams := map[*clusterConf]*upstream{}
	for _, c := range cfg.clusters {
		upstreams[c] = newUpstream(c)
	}
	access := newAccessLog()
	var servers []*http.Server
	var starts []func() error
	closeAll := func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}
	for _, l := range cfg.listeners {
		ln, err := listen(l.address, l.ipv4Compat)
		if err != nil {
			closeAll()
			return fmt.Errorf("listener %q: cannot bind %s: %v", l.name, l.address, err)
		}
		srv := httpServer(l, &connectionManager{listener: l, upstreams: upstreams, access: access})
		capped := &cappedListener{Listener: ln, cap: connections}
		servers = append(servers, srv)
		if l.tls {
			starts = append(starts, func() error { return srv.ServeTLS(capped, "", "") })
		} else {
			starts = append(starts, func() error { return srv.Serve(capped) })
		}
		log.Printf("listener %q on %s (%s)", l.name, l.address, map[bool]string{true: "TLS", false: "plaintext"}[l.tls])
	}
	if cfg.admin != "" {
		ln, err := listen(cfg.admin, false)
		if err != nil {
			closeAll()
			return fmt.Errorf("admin: cannot bind %s: %v", cfg.admin, err)
		}
		srv := &http.Server{Handler: adminHandler(opts), ErrorLog: quietLog}
		servers = append(servers, srv)
		starts = append(starts, func() error { return srv.Serve(ln) })
		log.Printf("admin on %s", cfg.admin)
	}

	failed := make(chan error, len(starts))
	for _, start := range starts {
		go func() {
			if err := start(); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}
	stop := make(chan struct{})
	go watchSecrets(cfg.secrets, stop)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	var result error
	select {
	case sig := <-signals:
		log.Printf("caught %s: stopping", sig)
	case result = <-failed:
	}
	close(stop)
	// In-flight requests get a moment; Envoy itself exits on SIGTERM without draining them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if s.Shutdown(ctx) != nil {
				_ = s.Close()
			}
		})
	}
	wg.Wait()
	return result
}

var quietLog = log.New(io.Discard, "", 0)

// listen: an IPv6 address without ipv4_compat is IPv6 only (Envoy sets IPV6_V6ONLY); "::" with it
// is one dual-stack socket.
func listen(address string, ipv4Compat bool) (net.Listener, error) {
	host, _, _ := net.SplitHostPort(address)
	network := "tcp4"
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		network = "tcp6"
		if ipv4Compat {
			network = "tcp"
		}
	}
	return net.Listen(network, address)
}

func httpServer(l *listenerConf, handler http.Handler) *http.Server {
	s := &http.Server{
		Handler:     handler,
		IdleTimeout: l.conn.idleTimeout,
		// request_timeout: the whole request must arrive in time (Go reads headers and body under it).
		ReadTimeout: l.conn.requestTimeout,
		ErrorLog:    quietLog,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          int(l.conn.maxConcurrentStreams),
			MaxReceiveBufferPerStream:     int(l.conn.streamWindow),
			MaxReceiveBufferPerConnection: int(l.conn.connWindow),
		},
		Protocols: new(http.Protocols),
	}
	s.Protocols.SetHTTP1(true)
	if l.tls {
		// h2 is offered only where the chain's alpn_protocols lists it (tlsconf.go).
		s.Protocols.SetHTTP2(true)
		s.TLSConfig = l.serverTLS()
	} else {
		// Envoy's codec (AUTO) also takes HTTP/2 with prior knowledge on a plaintext listener.
		s.Protocols.SetUnencryptedHTTP2(true)
	}
	return s
}

// connCap is overload.global_downstream_max_connections: a connection past the cap is closed at
// once, as Envoy's listeners do.
type connCap struct {
	max  int64
	open atomic.Int64
}

type cappedListener struct {
	net.Listener
	cap *connCap
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.cap.max > 0 && l.cap.open.Add(1) > l.cap.max {
			l.cap.open.Add(-1)
			_ = c.Close()
			continue
		}
		if l.cap.max <= 0 {
			return c, nil
		}
		return &cappedConn{Conn: c, cap: l.cap}, nil
	}
}

type cappedConn struct {
	net.Conn
	cap  *connCap
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() { c.cap.open.Add(-1) })
	return c.Conn.Close()
}

// adminHandler serves the two admin endpoints the project uses: /ready (the container's health
// check) and /server_info; every other path is 404.
func adminHandler(opts options) http.Handler {
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/ready":
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = io.WriteString(w, "LIVE\n")
		case "/server_info":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"version":                version(),
				"state":                  "LIVE",
				"uptime_current_epoch":   fmt.Sprintf("%ds", int(time.Since(started).Seconds())),
				"command_line_options":   map[string]any{"config_path": opts.configPath, "drain_time": fmt.Sprintf("%ds", opts.drainTimeS), "log_level": opts.logLevel},
				"lab_stand_in_for_envoy": true,
			})
		default:
			http.NotFound(w, r)
		}
	})
}
