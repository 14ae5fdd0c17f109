package limits

// The front door's release (envoy-release, envoy-settle, envoy-forget). Its waits on Envoy itself take
// the stack's deadlines (gate-request for each admin request and each request of the gate, the
// release's own `seconds` for readiness and the gate, envoy-validate for the check); these are the
// tool's own, on the Docker daemon, which only root talks to.
const (
	// EnvoyDockerSeconds: one call of the Docker CLI that only asks the daemon or starts a container
	// whose image is already there (inspect, ps, logs, rm --force, run --detach: the validation before
	// it pulled the image). Each takes well under a second on a healthy daemon; a daemon that does not
	// answer in 30 s is named rather than waited on until the step's own deadline.
	EnvoyDockerSeconds = 30
	// EnvoyStandbyStopSeconds: `docker stop --time 10` of the standby: Docker waits 10 s for it to exit, then
	// kills it; 30 s leaves the daemon 20 s for the rest.
	EnvoyStandbyStopSeconds = 30
	// EnvoyAdminAnswerBytes: the most of one answer of Envoy's admin that is read (the bash tool's cap).
	// /ready, a filtered /stats, /server_info and /listeners are a few kilobytes at most.
	EnvoyAdminAnswerBytes = 1 << 20
	// EnvoyLogBytes: the most of `docker logs` that is kept (the end of it: the lines that say why a
	// container stopped or what Envoy rejected are the last ones).
	EnvoyLogBytes = 1 << 20
)
