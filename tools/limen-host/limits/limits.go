// Package limits holds every deadline and size limit of the host tool, in one place.
//
// The stack keeps its own in hostio/deadlines.ts: each SSH step runs under root's `timeout` there
// (stepSeconds; an install gets 180 s), and the waits inside the tool on something the app user or a
// CA can stall have deadlines of their own, passed with every call (toolDeadlines, here ToolDeadlines:
// same names, same defaults, checked against that file by limits_test.go). A request may carry them
// (`deadlines`), so the stack's numbers win; the defaults here apply when it does not. The tool's own
// steps that nobody else can stall have deadlines too (the checks, systemctl, the handover), each well
// inside the step's, so that a failure names what it waited for rather than "the step took too long".
package limits

// MaxFileBytes: nothing root reads is read past it. A file's size is judged by fstat on its descriptor
// before a byte of it is read, so an 8 TiB sparse file the app user made for free is refused at once
// ("oversized"), never hashed, copied or compared; new content above it is refused before anything is
// written. Every file the stack reads this way (an env file, an ecosystem, Envoy's config, a ruleset,
// a unit) is a few kilobytes; 1 MiB leaves room for any real one, so the limit is not configurable.
const MaxFileBytes = 1 << 20

// MaxRequestBytes: one request on stdin. It carries at most one file of MaxFileBytes as base64 (4/3 of
// it) and a few names; 2 MiB leaves room for that and for content just above the file limit, which is
// then refused by name (the path and its size) rather than as an unreadable request.
const MaxRequestBytes = 2 << 20

// KillAfterSeconds: between a deadline's SIGTERM and the SIGKILL for a program that ignores it
// (hostio/deadlines.ts, killAfterSeconds).
const KillAfterSeconds = 5

// The waits the stack passes deadlines for (hostio/deadlines.ts, toolDeadlines), by the same names.
const (
	// PM2CallSeconds: one call into the app user's pm2 daemon (connect, list, save, delete).
	PM2CallSeconds = 15
	// GateRequestSeconds: one request of a health gate, from connect to the last byte of the answer.
	GateRequestSeconds = 5
	// CertbotSeconds: one run of certbot.
	CertbotSeconds = 240
	// EnvoyValidateSeconds: `envoy --mode validate` in the pinned image (a `docker run`).
	EnvoyValidateSeconds = 120
)

// ToolDeadlines are the defaults of the deadlines a request may carry, by name.
var ToolDeadlines = map[string]int{
	"pm2-call":       PM2CallSeconds,
	"gate-request":   GateRequestSeconds,
	"certbot":        CertbotSeconds,
	"envoy-validate": EnvoyValidateSeconds,
}

// The tool's own waits, on programs only root runs. Each install path stays inside the install step's
// 180 s (hostio/deadlines.ts, stepSeconds.install): the longest, the Envoy check, is
// EnvoyValidateSeconds + DockerRemoveSeconds + HandoverSeconds (limits_test.go checks the sum).
const (
	// NftCheckSeconds: `nft -c -f` of a new ruleset (milliseconds).
	NftCheckSeconds = 30
	// EcosystemCheckSeconds: node judging an ecosystem file as data (a fraction of a second).
	EcosystemCheckSeconds = 30
	// DockerRemoveSeconds: removing a validation container left by a validation past its deadline.
	DockerRemoveSeconds = 10
	// SystemctlSeconds: one `systemctl daemon-reload` (under a second on a small host).
	SystemctlSeconds = 30
	// HandoverSeconds: the write of a file by its own (non-root) owner, in the owner's directory.
	HandoverSeconds = 30
)
