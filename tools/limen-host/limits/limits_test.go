package limits

// The stack's deadlines live in hostio/deadlines.ts; the tool's defaults here must say the same, and
// the tool's longest install must fit in the stack's install step.

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

func stackDeadlines(t *testing.T) string {
	t.Helper()
	text, err := os.ReadFile("../../../hostio/deadlines.ts")
	if err != nil {
		t.Fatalf("hostio/deadlines.ts, the stack's deadlines: %v", err)
	}
	return string(text)
}

func stackNumber(t *testing.T, text, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("hostio/deadlines.ts has no match for %s", pattern)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestDeadlinesAreTheStacks(t *testing.T) {
	text := stackDeadlines(t)
	for _, c := range []struct {
		name, constant string
		here           int
	}{
		{"pm2-call", "pm2CallSeconds", PM2CallSeconds},
		{"gate-request", "gateRequestSeconds", GateRequestSeconds},
		{"certbot", "certbotSeconds", CertbotSeconds},
		{"envoy-validate", "envoyValidateSeconds", EnvoyValidateSeconds},
		{"", "killAfterSeconds", KillAfterSeconds},
	} {
		if stack := stackNumber(t, text, `export const `+c.constant+` = (\d+);`); stack != c.here {
			t.Errorf("%s: %d in hostio/deadlines.ts, %d here", c.constant, stack, c.here)
		}
		if c.name != "" {
			if !regexp.MustCompile(`"?` + regexp.QuoteMeta(c.name) + `"?: ` + c.constant).MatchString(text) {
				t.Errorf("hostio/deadlines.ts's toolDeadlines does not name %s %s", c.constant, c.name)
			}
			if ToolDeadlines[c.name] != c.here {
				t.Errorf("ToolDeadlines[%q] = %d, want %d", c.name, ToolDeadlines[c.name], c.here)
			}
		}
	}
	if len(ToolDeadlines) != 4 {
		t.Errorf("ToolDeadlines has %d names; hostio/deadlines.ts's toolDeadlines has 4", len(ToolDeadlines))
	}
}

func TestTheLongestInstallFitsTheStacksInstallStep(t *testing.T) {
	install := stackNumber(t, stackDeadlines(t), `\n\s*install: (\d+),`)
	longest := EnvoyValidateSeconds + KillAfterSeconds + DockerRemoveSeconds + HandoverSeconds + KillAfterSeconds
	if longest >= install {
		t.Errorf("an install with the Envoy check may take %d s; the stack's install step has %d s", longest, install)
	}
	for name, seconds := range map[string]int{"nft": NftCheckSeconds, "ecosystem": EcosystemCheckSeconds} {
		if seconds+HandoverSeconds+2*KillAfterSeconds >= install {
			t.Errorf("an install with the %s check may take longer than the stack's install step", name)
		}
	}
}
