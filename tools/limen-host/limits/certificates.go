package limits

// The certificates' waits and sizes (acme-certificate, acme-remove, tls-publish, tls-placeholder).
const (
	// CertbotAttempts: certbot runs at most this many times when it finds another certbot running
	// (certbot.timer's renewal), CertbotBusySeconds apart: a minute of waiting, as the bash tool did.
	// Each run has the certbot deadline (CertbotSeconds, or the request's).
	CertbotAttempts = 10
	// CertbotBusySeconds: the wait before trying again after "Another instance of Certbot is already
	// running".
	CertbotBusySeconds = 6
	// MaxCertbotOutputBytes: what is kept of one certbot run's output to judge it (the busy message,
	// the `certificates` listing); it is a few kilobytes, and all of it is passed on to stderr anyway.
	MaxCertbotOutputBytes = 1 << 20
	// AptGetInstallSeconds: `apt-get install certbot` on a host that lacks it (a download of a few MB
	// and its unpacking). With one certbot run after it, this stays inside the certificate step
	// (hostio/deadlines.ts, certificateStepSeconds: 2 * 240 + 60 s).
	AptGetInstallSeconds = 180
)
