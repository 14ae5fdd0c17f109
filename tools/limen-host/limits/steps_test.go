package limits

import "testing"

// The firewall's and the container name's steps, every program at its deadline and then its SIGKILL
// grace, fit in the stack's steps for them.
func TestTheFirewallAndContainerStepsFitTheStacksSteps(t *testing.T) {
	text := stackDeadlines(t)
	firewall := stackNumber(t, text, `\n\s*firewall: (\d+),`)
	apply := NftCheckSeconds + KillAfterSeconds + FirewallPrograms*(FirewallProgramSeconds+KillAfterSeconds)
	if apply >= firewall {
		t.Errorf("apply-firewall may take %d s; the stack's firewall step has %d s", apply, firewall)
	}
	container := stackNumber(t, text, `\n\s*container: (\d+),`)
	if claim := DockerCalls * (DockerCallSeconds + KillAfterSeconds); claim >= container {
		t.Errorf("container-claim may take %d s; the stack's container step has %d s", claim, container)
	}
}
