package limits

// The container name's steps (container-holder, container-claim): each docker call has a deadline, and
// all of them with their SIGKILL grace stay inside the stack's step (hostio/deadlines.ts,
// stepSeconds.container: 60 s; limits_test.go checks the sum).

const (
	// DockerCallSeconds: one docker call of container-holder or container-claim (ps, container
	// inspect, image inspect, rm --force). The daemon answers in milliseconds; one that hangs is
	// given up on rather than waited for. Four calls and their SIGKILL grace fit in the 60 s step.
	DockerCallSeconds = 8
	// DockerCalls: the most docker calls container-claim makes.
	DockerCalls = 4
)
