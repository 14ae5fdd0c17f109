package main

// Envoy's admin, asked by root itself: on a container's unix socket (in a root-only directory of the
// state directory), or on 127.0.0.1:PORT for a container from before the admin moved to a socket (only
// ever asked to drain: whoever holds that port gains nothing by the request). Each request has a
// deadline on the whole exchange (gate-request), and an answer above limits.EnvoyAdminAnswerBytes is
// refused, not read on.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"limen-infra/tools/limen-host/limits"
)

// The admin requests the release makes (files/limen-host.sh's paths, byte for byte).
const (
	adminReady     = "/ready"
	adminInfo      = "/server_info"
	adminListeners = "/listeners?format=json"
	adminDrain     = "/drain_listeners?graceful&inboundonly"
	// adminApplied: the versions Envoy applied and its rejection counts; adminRejected: the counts alone.
	adminApplied  = "/stats?filter=^(listener_manager[.]lds|cluster_manager[.]cds)[.](version_text|update_rejected)$"
	adminRejected = "/stats?filter=update_rejected$"
)

// adminAddress: where an admin is, a container's (by name: its socket) or a legacy one (a port).
type adminAddress struct {
	socket string
	port   int
}

// adminOf is the admin of the container name, on its socket under the state directory.
func (d *door) adminOf(name string) adminAddress {
	return adminAddress{socket: filepath.Join(d.state, "admin", name, "admin.sock")}
}

// admin makes one request (method, path with its query as Envoy takes it) and returns the answer of a
// 200; anything else is an error in the bash tool's words: `GET /ready: ENOENT`, `POST … answered 503`.
func (d *door) admin(at adminAddress, method, path string) (string, error) {
	seconds := d.c.seconds("gate-request")
	ctx, cancel := context.WithTimeout(d.c.ctx, time.Duration(seconds)*time.Second)
	defer cancel()
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			if at.socket != "" {
				return dialer.DialContext(ctx, "unix", at.socket)
			}
			return dialer.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(at.port)))
		},
		DisableKeepAlives: true,
	}
	defer transport.CloseIdleConnections()
	host := "localhost"
	if at.socket == "" {
		host = net.JoinHostPort("127.0.0.1", strconv.Itoa(at.port))
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+host+"/", nil)
	if err != nil {
		return "", err
	}
	// The query exactly as written (a regex with ^, |, [ and $): Envoy reads it as the bash tool sent it.
	req.URL.Path, req.URL.RawQuery, _ = strings.Cut(path, "?")
	answer, err := exchange(transport, req, limits.EnvoyAdminAnswerBytes)
	switch {
	case errors.Is(err, errAnswerTooLarge):
		return "", fmt.Errorf("%s %s: an answer over 1 MiB", method, path)
	case err != nil && ctx.Err() != nil && d.c.ctx.Err() == nil:
		return "", fmt.Errorf("%s %s: no answer within %d s", method, path, seconds)
	case err != nil:
		return "", fmt.Errorf("%s %s: %s", method, path, errorCode(err))
	case answer.status != http.StatusOK:
		return "", fmt.Errorf("%s %s answered %d", method, path, answer.status)
	}
	return string(answer.body), nil
}

var errAnswerTooLarge = errors.New("an answer over the limit")

type answer struct {
	status int
	body   []byte
}

// exchange sends req and reads its whole answer, at most max bytes of it.
func exchange(transport http.RoundTripper, req *http.Request, max int) (answer, error) {
	res, err := transport.RoundTrip(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, int64(max)+1))
	if err != nil {
		return answer{}, err
	}
	if len(body) > max {
		return answer{}, errAnswerTooLarge
	}
	return answer{status: res.StatusCode, body: body}, nil
}

// errorCode: a failed connection as Node named it (error.code: ECONNREFUSED, ENOENT, ECONNRESET), or
// the error's own words.
func errorCode(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "ECONNRESET"
	}
	return err.Error()
}

// envoyStats is an answer of /stats: `name: value` per line, a text readout quoted (`"v1"`).
type envoyStats map[string]string

func parseStats(text string) envoyStats {
	stats := envoyStats{}
	for _, line := range strings.Split(text, "\n") {
		if name, value, ok := strings.Cut(line, ": "); ok {
			stats[name] = value
		}
	}
	return stats
}

// leadingNumber: a value as awk's `$2 + 0` reads it (its leading digits; none is 0).
var leadingNumber = regexp.MustCompile(`^[0-9]+`)

// rejected: "LDS CDS", the update_rejected counts, compared before and after a move.
func (s envoyStats) rejected() string {
	count := func(name string) int {
		n, _ := strconv.Atoi(leadingNumber.FindString(strings.TrimSpace(s[name])))
		return n
	}
	return fmt.Sprintf("%d %d", count("listener_manager.lds.update_rejected"), count("cluster_manager.cds.update_rejected"))
}

// applied: Envoy reports both versions as its version_text.
func (s envoyStats) applied(lds, cds string) bool {
	return s["listener_manager.lds.version_text"] == `"`+lds+`"` && s["cluster_manager.cds.version_text"] == `"`+cds+`"`
}

// httpsListenerPort: the port of the first bound listener named https_… in an answer of
// /listeners?format=json (admin.v3.Listeners), or 0.
func httpsListenerPort(text string) int {
	var listeners struct {
		Statuses []struct {
			Name  string `json:"name"`
			Local struct {
				Socket struct {
					Port int `json:"port_value"`
				} `json:"socket_address"`
			} `json:"local_address"`
		} `json:"listener_statuses"`
	}
	if json.Unmarshal([]byte(text), &listeners) != nil {
		return 0
	}
	for _, status := range listeners.Statuses {
		if strings.HasPrefix(status.Name, "https_") {
			if status.Local.Socket.Port < 1 || status.Local.Socket.Port > 65535 {
				return 0
			}
			return status.Local.Socket.Port
		}
	}
	return 0
}

// serverLive: an answer of /server_info says the server is LIVE (not DRAINING, not PRE_INITIALIZING).
func serverLive(text string) bool {
	var info struct {
		State string `json:"state"`
	}
	return json.Unmarshal([]byte(text), &info) == nil && info.State == "LIVE"
}
