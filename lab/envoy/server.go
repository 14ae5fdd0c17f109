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
// SIGTERM or SIGINT, then stops accepting and exits promptly (docker stop). With dynamic resources it
// watches their files and applies a new version in place (door.apply), or rejects it and keeps the
// one it serves.
func serve(cfg *config, opts options) error {
	d := newDoor(cfg.maxConns, time.Duration(opts.drainTimeS)*time.Second)
	if err := d.apply(cfg); err != nil {
		d.stop()
		return err
	}
	var admin *http.Server
	failed := make(chan error, 1)
	if cfg.admin != "" || cfg.adminPipe != nil {
		ln, err := listenAdmin(cfg)
		if err != nil {
			d.stop()
			return err
		}
		admin = &http.Server{Handler: adminHandler(opts, d), ErrorLog: quietLog}
		go func() {
			if err := admin.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
		log.Printf("admin on %s", ln.Addr())
	}
	stop := make(chan struct{})
	if cfg.dynamic != nil {
		go d.watchDynamic(opts.configPath, cfg.dynamic, stop)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	var result error
	select {
	case sig := <-signals:
		log.Printf("caught %s: stopping", sig)
	case result = <-failed:
	}
	close(stop)
	d.stop()
	if admin != nil {
		_ = admin.Close()
	}
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
// /server_info, /listeners?format=json (where each listener is bound, a port 0 resolved),
// /stats (the LDS and CDS update counters and versions) and POST /drain_listeners; every other path
// is 404.
func adminHandler(opts options, d *door) http.Handler {
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drain_listeners" {
			// Envoy takes mutating admin requests by POST only.
			if r.Method != http.MethodPost {
				http.Error(w, "This endpoint requires POST", http.StatusMethodNotAllowed)
				return
			}
			// inboundonly is accepted: every listener here is inbound.
			d.drain(r.URL.Query().Has("graceful"))
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
			_ = json.NewEncoder(w).Encode(map[string]any{"listener_statuses": d.statuses()})
		case "/stats":
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			lines, err := d.stats.lines(r.URL.Query().Get("filter"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, lines)
		case "/server_info":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"version":                version(),
				"state":                  d.state(),
				"uptime_current_epoch":   fmt.Sprintf("%ds", int(time.Since(started).Seconds())),
				"command_line_options":   map[string]any{"config_path": opts.configPath, "drain_time": fmt.Sprintf("%ds", opts.drainTimeS), "log_level": opts.logLevel},
				"lab_stand_in_for_envoy": true,
			})
		default:
			http.NotFound(w, r)
		}
	})
}
