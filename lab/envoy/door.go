package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// door holds the listening sockets and the servers behind them. A new config (at start, or a new
// version of the dynamic resources) is applied in place:
//   - a listener whose address is already bound keeps its socket: new connections go to the new
//     config's server from then on, so no connection is refused during the change;
//   - the previous servers drain: a response on HTTP/1 carries `connection: close`, idle kept-alive
//     connections are closed, HTTP/2 gets a GOAWAY; their connections are closed after --drain-time-s;
//   - a new address is bound first: if any cannot be bound, the new config is rejected and nothing
//     changes;
//   - an address the new config no longer has is closed after the drain time.
type door struct {
	mu        sync.Mutex
	conns     *connCap
	drainTime time.Duration
	sockets   map[string]*socket // by listener name
	current   *generation        // the current config's servers
	secrets   chan struct{}      // closes the current config's SDS watcher
	draining  bool               // /drain_listeners was asked
	closed    bool               // the drain closed every socket
	stats     stats
}

// generation is the servers of one config. Once it is draining, every response carries
// `connection: close` (HTTP/1), so a kept-alive client closes its connection after its next answer,
// as Envoy's drain does; idle connections stay open until the drain time ends.
type generation struct {
	servers  []*http.Server
	draining atomic.Bool
}

func (g *generation) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// close ends the generation: HTTP/2 connections get a GOAWAY and in-flight requests a second; what
// is still open then is closed.
func (g *generation) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range g.servers {
		wg.Go(func() {
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
		})
	}
	wg.Wait()
}

// socket is one listener's bound address and the server its connections currently go to.
type socket struct {
	name    string
	address string // as configured
	ln      net.Listener
	current atomic.Pointer[handoff]
}

// handoff is a listener for one server: the connections the socket accepted while it was current.
type handoff struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{conns: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// accept runs for the socket's life: each connection goes to the current handoff. A handoff that
// closes while a connection waits passes it on to the next one.
func (s *socket) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		for {
			h := s.current.Load()
			if h == nil {
				_ = c.Close()
				break
			}
			select {
			case h.conns <- c:
			case <-h.closed:
				if s.current.Load() != h {
					continue
				}
				_ = c.Close()
			}
			break
		}
	}
}

func newDoor(maxConns int64, drainTime time.Duration) *door {
	return &door{conns: &connCap{max: maxConns}, drainTime: drainTime, sockets: map[string]*socket{}}
}

// apply serves cfg: see door. An error (an address that cannot be bound) leaves everything as it was.
func (d *door) apply(cfg *config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return errors.New("the listeners are draining")
	}
	// Envoy refuses to move a listener of the same name to another address (a new address is a new
	// listener under a new name).
	for _, l := range cfg.listeners {
		if s, ok := d.sockets[l.name]; ok && s.address != l.address {
			return fmt.Errorf("error updating listener: '%s' has a different address '%s' from existing listener address '%s'", l.name, l.address, s.address)
		}
	}
	// Bind what is new first: the config is all or nothing.
	fresh := map[string]*socket{}
	for _, l := range cfg.listeners {
		if _, ok := d.sockets[l.name]; ok {
			continue
		}
		ln, err := listen(l.address, l.ipv4Compat, l.reusePort)
		if err != nil {
			for _, s := range fresh {
				_ = s.ln.Close()
			}
			return fmt.Errorf("listener %q: cannot bind %s: %v", l.name, l.address, err)
		}
		fresh[l.name] = &socket{name: l.name, address: l.address, ln: &cappedListener{Listener: ln, cap: d.conns}}
	}
	upstreams := map[*clusterConf]*upstream{}
	for _, c := range cfg.clusters {
		upstreams[c] = newUpstream(c)
	}
	access := newAccessLog()
	previous := d.current
	d.current = &generation{}
	keep := map[string]bool{}
	for _, l := range cfg.listeners {
		keep[l.name] = true
		s := d.sockets[l.name]
		if s == nil {
			s = fresh[l.name]
			d.sockets[l.name] = s
			go s.accept()
		}
		srv := httpServer(l, d.current.wrap(&connectionManager{listener: l, upstreams: upstreams, access: access}))
		d.current.servers = append(d.current.servers, srv)
		h := newHandoff(s.ln.Addr())
		if l.tls {
			go func() { _ = srv.ServeTLS(h, "", "") }()
		} else {
			go func() { _ = srv.Serve(h) }()
		}
		if old := s.current.Swap(h); old != nil {
			_ = old.Close()
		}
		log.Printf("listener %q on %s (%s)", l.name, s.ln.Addr(), map[bool]string{true: "TLS", false: "plaintext"}[l.tls])
	}
	var gone []*socket
	for name, s := range d.sockets {
		if !keep[name] {
			gone = append(gone, s)
			delete(d.sockets, name)
		}
	}
	d.retire(previous, gone)
	if d.secrets != nil {
		close(d.secrets)
	}
	d.secrets = make(chan struct{})
	go watchSecrets(cfg.secrets, d.secrets)
	return nil
}

// retire drains the servers of an earlier config and closes the sockets no longer configured, after
// the drain time.
func (d *door) retire(previous *generation, sockets []*socket) {
	for _, s := range sockets {
		if h := s.current.Swap(nil); h != nil {
			_ = h.Close()
		}
	}
	if previous != nil {
		previous.draining.Store(true)
	}
	time.AfterFunc(d.drainTime, func() {
		for _, s := range sockets {
			_ = s.ln.Close()
		}
		if previous != nil {
			previous.close()
		}
	})
}

// drain is /drain_listeners: the current servers drain at once; with graceful the sockets close
// after the drain time (a closed port is left to any other process bound to it with SO_REUSEPORT),
// without it at once. The process keeps running, drained, until it is stopped.
func (d *door) drain(graceful bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.draining {
		d.draining = true
		log.Printf("draining listeners (%s)", map[bool]string{true: "graceful, " + d.drainTime.String(), false: "at once"}[graceful])
		if d.current != nil {
			d.current.draining.Store(true)
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

func (d *door) closeLocked() {
	if d.closed {
		return
	}
	d.closed = true
	for _, s := range d.sockets {
		_ = s.ln.Close()
	}
	log.Printf("listeners drained and closed")
}

// stop: SIGTERM. In-flight requests get a moment; Envoy itself exits on SIGTERM without draining them.
func (d *door) stop() {
	d.mu.Lock()
	for _, s := range d.sockets {
		_ = s.ln.Close()
	}
	current := d.current
	d.mu.Unlock()
	if current != nil {
		current.close()
	}
}

func (d *door) state() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return "DRAINING"
	}
	return "LIVE"
}

// statuses are admin.v3.ListenerStatus as JSON: each listener's name and bound address, by name; a
// drained door lists none.
func (d *door) statuses() []map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []map[string]any{}
	if d.closed {
		return out
	}
	for _, s := range d.sockets {
		addr, ok := s.ln.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		out = append(out, map[string]any{
			"name":          s.name,
			"local_address": map[string]any{"socket_address": map[string]any{"address": addr.IP.String(), "port_value": addr.Port}},
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
	return out
}

// watchDynamic polls the LDS and CDS files' watched directories every second. A move into one
// (a file's inode changes, as `mv` of a new file does) reloads the bootstrap with both files: a
// config that loads and binds is applied in place; one that does not is rejected, counted, and the
// served one stays. Both kinds count an update of each file that moved.
func (d *door) watchDynamic(bootstrap string, dynamic *dynamicConf, stop <-chan struct{}) {
	d.stats.set("listener_manager.lds.version_text", dynamic.ldsVersion)
	d.stats.set("cluster_manager.cds.version_text", dynamic.cdsVersion)
	seen := map[string]uint64{dynamic.lds.file: inode(dynamic.lds.file), dynamic.cds.file: inode(dynamic.cds.file)}
	applied := *dynamic
	prefixes := map[string]string{dynamic.lds.file: "listener_manager.lds", dynamic.cds.file: "cluster_manager.cds"}
	everySecond(stop, func() {
		var moved []string
		for file := range seen {
			if now := inode(file); now != seen[file] {
				seen[file] = now
				moved = append(moved, file)
			}
		}
		if len(moved) == 0 {
			return
		}
		cfg, problems, err := loadConfig(bootstrap)
		if err == nil && len(problems) == 0 {
			// The same versions again (a file moved in with the content it had): nothing to change,
			// as Envoy finds the same resources.
			if cfg.dynamic.ldsVersion != applied.ldsVersion || cfg.dynamic.cdsVersion != applied.cdsVersion {
				err = d.apply(cfg)
			}
			if err == nil {
				applied = *cfg.dynamic
			}
		} else if err == nil {
			lines := make([]string, 0, len(problems))
			for _, p := range problems {
				lines = append(lines, p.String())
			}
			err = errors.New(strings.Join(lines, "; "))
		}
		for _, file := range moved {
			if err != nil {
				d.stats.add(prefixes[file] + ".update_rejected")
				log.Printf("%s rejected, the previous version is kept: %v", file, err)
				continue
			}
			d.stats.add(prefixes[file] + ".update_success")
			version := cfg.dynamic.ldsVersion
			if file == dynamic.cds.file {
				version = cfg.dynamic.cdsVersion
			}
			d.stats.set(prefixes[file]+".version_text", version)
			log.Printf("%s version %q applied", file, version)
		}
	})
}

func inode(file string) uint64 {
	fi, err := os.Stat(file)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// stats are the few of Envoy's statistics the stand-in keeps: the LDS and CDS update counters
// (update_success, update_rejected) and their text readouts (version_text), printed by /stats as
// Envoy prints them (`name: value`, a text readout quoted), in name order, filtered by a regex.
type stats struct {
	mu       sync.Mutex
	counters map[string]int
	texts    map[string]string
}

func (s *stats) add(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counters == nil {
		s.counters = map[string]int{}
	}
	s.counters[name]++
}

func (s *stats) set(name, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.texts == nil {
		s.texts = map[string]string{}
	}
	s.texts[name] = text
}

func (s *stats) lines(filter string) (string, error) {
	re, err := regexp.Compile(filter)
	if err != nil {
		return "", fmt.Errorf("Invalid re2 regex: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	values := map[string]string{}
	for _, prefix := range []string{"listener_manager.lds", "cluster_manager.cds"} {
		for _, counter := range []string{"update_success", "update_rejected"} {
			values[prefix+"."+counter] = fmt.Sprint(s.counters[prefix+"."+counter])
		}
		values[prefix+".version_text"] = fmt.Sprintf("%q", s.texts[prefix+".version_text"])
	}
	names := make([]string, 0, len(values))
	for name := range values {
		if re.MatchString(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s: %s\n", name, values[name])
	}
	return b.String(), nil
}
