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
	drain := &drainer{drainTime: time.Duration(opts.drainTimeS) * time.Second}
	for _, l := range cfg.listeners {
		ln, err := listen(l.address, l.ipv4Compat, l.reusePort)
		if err != nil {
			closeAll()
			return fmt.Errorf("listener %q: cannot bind %s: %v", l.name, l.address, err)
		}
		srv := httpServer(l, &connectionManager{listener: l, upstreams: upstreams, access: access})
		capped := &cappedListener{Listener: ln, cap: connections}
		servers = append(servers, srv)
		drain.add(l.name, srv, ln)
		if l.tls {
			starts = append(starts, func() error { return drain.served(ln, srv.ServeTLS(capped, "", "")) })
		} else {
			starts = append(starts, func() error { return drain.served(ln, srv.Serve(capped)) })
		}
		log.Printf("listener %q on %s (%s)", l.name, ln.Addr(), map[bool]string{true: "TLS", false: "plaintext"}[l.tls])
	}
	if cfg.admin != "" || cfg.adminPipe != nil {
		ln, err := listenAdmin(cfg)
		if err != nil {
			closeAll()
			return err
		}
		srv := &http.Server{Handler: adminHandler(opts, drain), ErrorLog: quietLog}
		servers = append(servers, srv)
		starts = append(starts, func() error { return srv.Serve(ln) })
		log.Printf("admin on %s", ln.Addr())
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
// is one dual-stack socket. With reusePort the socket gets SO_REUSEPORT before it binds, as Envoy's
// listeners do by default on Linux: a second process of the same user can then bind the same port,
// and the kernel spreads new connections between the two.
func listen(address string, ipv4Compat, reusePort bool) (net.Listener, error) {
	host, _, _ := net.SplitHostPort(address)
	network := "tcp4"
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		network = "tcp6"
		if ipv4Compat {
			network = "tcp"
		}
	}
	lc := net.ListenConfig{}
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var sockErr error
			err := c.Control(func(fd uintptr) {
				sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			})
			if err != nil {
				return err
			}
			return sockErr
		}
	}
	return lc.Listen(context.Background(), network, address)
}

// soReusePort is Linux's SO_REUSEPORT (the syscall package does not name it on every platform).
const soReusePort = 0xf

// listenAdmin binds the admin: a TCP address, or a unix socket (Address.pipe) with the pipe's mode.
// As Envoy does for a pipe path, whatever is at the path is unlinked first (a socket left by an
// earlier run of the same container).
func listenAdmin(cfg *config) (net.Listener, error) {
	if cfg.adminPipe == nil {
		ln, err := listen(cfg.admin, false, false)
		if err != nil {
			return nil, fmt.Errorf("admin: cannot bind %s: %v", cfg.admin, err)
		}
		return ln, nil
	}
	_ = os.Remove(cfg.adminPipe.path)
	ln, err := net.Listen("unix", cfg.adminPipe.path)
	if err != nil {
		return nil, fmt.Errorf("admin: cannot bind pipe %s: %v", cfg.adminPipe.path, err)
	}
	if cfg.adminPipe.mode != 0 {
		if err := os.Chmod(cfg.adminPipe.path, cfg.adminPipe.mode); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("admin: pipe %s: %v", cfg.adminPipe.path, err)
		}
	}
	return ln, nil
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

// adminHandler serves the admin endpoints the project uses: /ready (the container's health check),
// /server_info, /listeners?format=json (where each listener is bound, a port 0 resolved) and
// POST /drain_listeners; every other path is 404.
func adminHandler(opts options, drain *drainer) http.Handler {
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drain_listeners" {
			// Envoy takes mutating admin requests by POST only.
			if r.Method != http.MethodPost {
				http.Error(w, "This endpoint requires POST", http.StatusMethodNotAllowed)
				return
			}
			// inboundonly is accepted: every listener here is inbound.
			drain.start(r.URL.Query().Has("graceful"))
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = io.WriteString(w, "OK\n")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/ready":
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = io.WriteString(w, "LIVE\n")
		case "/listeners":
			if r.URL.Query().Get("format") != "json" {
				http.Error(w, "only /listeners?format=json is implemented by the lab's stand-in Envoy", http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"listener_statuses": drain.statuses()})
		case "/server_info":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"version":                version(),
				"state":                  drain.state(),
				"uptime_current_epoch":   fmt.Sprintf("%ds", int(time.Since(started).Seconds())),
				"command_line_options":   map[string]any{"config_path": opts.configPath, "drain_time": fmt.Sprintf("%ds", opts.drainTimeS), "log_level": opts.logLevel},
				"lab_stand_in_for_envoy": true,
			})
		default:
			http.NotFound(w, r)
		}
	})
}

// drainer is /drain_listeners: what Envoy does when asked to drain its listeners.
//   - Draining starts at once: a response on HTTP/1 carries `connection: close` and idle kept-alive
//     connections are closed; HTTP/2 connections get a GOAWAY. New connections are still accepted
//     (and served the same way) until the listeners close.
//   - With graceful, the listeners close after --drain-time-s; without it, at once. A closed
//     listener's port is left to any other process bound to it with SO_REUSEPORT.
//   - The process keeps running, drained, until it is stopped; the admin stays up.
type drainer struct {
	drainTime time.Duration
	mu        sync.Mutex
	listeners []drainedListener
	draining  bool
	closed    bool
}

type drainedListener struct {
	name   string
	server *http.Server
	ln     net.Listener
}

func (d *drainer) add(name string, server *http.Server, ln net.Listener) {
	d.listeners = append(d.listeners, drainedListener{name: name, server: server, ln: ln})
}

func (d *drainer) start(graceful bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.draining {
		d.draining = true
		log.Printf("draining listeners (%s)", map[bool]string{true: "graceful, " + d.drainTime.String(), false: "at once"}[graceful])
		for _, l := range d.listeners {
			l.server.SetKeepAlivesEnabled(false)
		}
	}
	if !graceful {
		d.closeLocked()
		return
	}
	time.AfterFunc(d.drainTime, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.closeLocked()
	})
}

func (d *drainer) closeLocked() {
	if d.closed {
		return
	}
	d.closed = true
	for _, l := range d.listeners {
		_ = l.ln.Close()
	}
	log.Printf("listeners drained and closed")
}

// served is a listener's Serve result: an error because the drain closed the listener is no failure.
func (d *drainer) served(_ net.Listener, err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed && err != nil && errors.Is(err, net.ErrClosed) {
		return http.ErrServerClosed
	}
	return err
}

func (d *drainer) state() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return "DRAINING"
	}
	return "LIVE"
}

// statuses are admin.v3.ListenerStatus as JSON: each listener's name and bound address; a closed
// (drained) listener is no longer listed.
func (d *drainer) statuses() []map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []map[string]any{}
	if d.closed {
		return out
	}
	for _, l := range d.listeners {
		addr, ok := l.ln.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		out = append(out, map[string]any{
			"name":          l.name,
			"local_address": map[string]any{"socket_address": map[string]any{"address": addr.IP.String(), "port_value": addr.Port}},
		})
	}
	return out
}
