package limits

// MaxPM2ApplyRequestBytes: a pm2-apply request, which carries two sets of the apps' files (the
// planned ones and the ones deployed before), each a few files within MaxFileBytes, as base64. The
// bash tool read at most this much of its stdin (`head -c`); the request keeps the number.
const MaxPM2ApplyRequestBytes = 8 << 20

// DefaultAppsOnlineSeconds: how long pm2-apply waits for the apps to come online when no health gate
// is set (hostio/deadlines.ts, appsOnlineSeconds).
const DefaultAppsOnlineSeconds = 60

// SystemctlStartSeconds: `systemctl start` of pm2's unit, which starts the daemon and resurrects the
// saved list (a few seconds), and of the log rotation's timer.
const SystemctlStartSeconds = 60

// PM2ApplyScriptSeconds: a backstop for one run of pm2-apply's Node script, which keeps a deadline on
// each of its own waits (every call into the daemon within pm2Call, every gate request within
// gateRequest, each gate and the apps' coming online within gateSeconds) and names the one that
// failed. Its longest path: the connect, deleting and starting the candidates (2 calls per app), the
// candidates' gate (its time, plus one round of two requests and a list), deleting them again, the
// reload and the look (its time, plus a list), the serving apps' gate and the dump. A run that takes
// longer than that sum (plus a few seconds for node's start) is stopped here.
func PM2ApplyScriptSeconds(gateSeconds, apps, pm2Call, gateRequest int) int {
	return 3*gateSeconds + 4*gateRequest + (4+3*apps)*pm2Call + 10
}
