package limits

// The firewall's steps: each program they run has a deadline of its own, short enough that the whole
// step, every program's deadline and SIGKILL grace added up, stays inside the stack's step
// (hostio/deadlines.ts, stepSeconds.firewall: 120 s; limits_test.go checks the sum), so that a failure
// names what it waited for.

const (
	// FirewallProgramSeconds: one systemctl call (stop, reset-failed, is-enabled, show, enable, disable,
	// daemon-reload), systemd-run arming the revert, or one nft call other than the check of new
	// content (list table, -c of the saved table, -f, delete table). Each takes milliseconds, a
	// daemon-reload about half a second of PID 1 on a small host; 8 s lets apply-firewall's seven
	// programs (NftCheckSeconds for the new ruleset, this for the six others) fit in 120 s.
	FirewallProgramSeconds = 8
	// FirewallPrograms: the most programs one firewall step runs after the new ruleset's check
	// (apply-firewall: stop, reset-failed, nft list, nft -c, systemd-run, nft -f; remove-firewall:
	// stop, reset-failed, disable, daemon-reload, nft list, nft delete).
	FirewallPrograms = 6

	// MaxProgramOutputBytes: what root reads of a program's stdout (nft list table, docker's
	// answers, systemctl show), as it reads a file: the live table is a few kilobytes, and nothing it
	// saves may exceed the limit of a file root reads back.
	MaxProgramOutputBytes = MaxFileBytes
)
