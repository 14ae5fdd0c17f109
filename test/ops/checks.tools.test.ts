/** Every check of verify (ops/checks.ts), against stand-in hosts whose firewall probe runs nft for real. */
import { describe, expect, it } from "vitest";
import { sshError } from "../../hostio/ssh";
import { sha256 } from "../../core/sha256";
import { runChecks } from "../../ops/checks";
import { HostRole, PlannedHosts, RunOnHost } from "../../ops/remote";
import { exitCode, formatJson, formatTable } from "../../ops/report";
import { curlCommand, healthUrl, sessionUrl } from "../../ops/runbook";
import { hostClockCommand, proxyLogCommand } from "../../ops/proxy-log";
import { advice, other, otherPlan, envFile } from "../support/probe-outputs";
import { deletePublicPorts, standInHosts, remoteFor, collect, allCheckNames, toExec } from "../support/stand-in-hosts";

describe("every check, against stand-in hosts", () => {
    it("converged hosts pass every check: the runbook's, then one per artifact of each host's plan", async () => {
        const hosts = standInHosts(other, otherPlan);
        const results = await collect(runChecks(other, otherPlan, remoteFor(hosts)));
        expect(
            results.map((r) => [r.check, r.ok]),
            JSON.stringify(results, null, 2),
        ).toEqual(allCheckNames.map((name) => [name, true]));
        expect(exitCode(results)).toBe(0);
        // The clock is read before the POST, the logs right after the session check.
        expect(hosts.asked.slice(0, 6)).toEqual([
            `frontend: ${curlCommand(healthUrl(other))}`,
            `frontend: ${hostClockCommand}`,
            `frontend: ${curlCommand(sessionUrl(other), "-i", "-X", "POST")}`,
            `frontend: ${curlCommand(sessionUrl(other), "-H", "Cookie: limen_session=abc123secret; theme=dark")}`,
            `frontend: ${proxyLogCommand(other)}`,
            "frontend: ss -Hltn",
        ]);
    });

    it("every artifact of the plan has its check: files, host tools, firewalls, pm2; then each host's disk", () => {
        const artifacts = (["frontend", "backend"] as const).flatMap((role) => {
            const host = otherPlan[role];
            return [`${role} host tool`, `${role} firewall`, ...host.files.map((file) => `${role} file ${file.path}`), ...(host.pm2 ? [`${role} pm2`] : [])];
        });
        const certificates = otherPlan.frontend.certificates.map((certificate) => `frontend certificate ${certificate.name}`);
        expect(certificates).toEqual(["frontend certificate sites"]);
        expect(allCheckNames.slice(4)).toEqual([...artifacts, ...certificates, "frontend disk", "backend disk"]);
    });

    it("a frontend disk below limen:verify.minFreeDiskPercent fails that check only, naming the path", async () => {
        const results = await collect(runChecks(other, otherPlan, remoteFor(standInHosts(other, otherPlan, { frontendFreePercent: 4 }))));
        const failed = results.filter((r) => !r.ok);
        expect(failed.map((r) => r.check)).toEqual(["frontend disk"]);
        expect(failed[0]!.detail).toMatch(
            /^\/ has 4\.0% free \(0\.8 GiB of 20\.0 GiB\), below limen:verify\.minFreeDiskPercent 10%; pm2's logs \(\/home\/limen\/\.pm2\/logs\) take 12\.0 MiB: /,
        );
    });

    it("drift and a wrong proxy target fail their checks only, with the repair and without secrets", async () => {
        const hosts = standInHosts(other, otherPlan, {
            backendTamper: deletePublicPorts,
            envFileOnHost: "BACKEND_HOST=203.0.113.5\nSESSION_SECRET=s3cr3t-$ession-value\n",
            proxyTarget: "http://203.0.113.5:18443",
        });
        const results = await collect(runChecks(other, otherPlan, remoteFor(hosts)));
        const failed = results.filter((r) => !r.ok);
        expect(failed.map((r) => r.check)).toEqual(["proxy-log", "frontend file /srv/limen-frontend/.env.production", "backend firewall"]);
        expect(failed[1]!.detail).toBe(`content differs; ${advice}`);
        expect(failed[2]!.detail).toBe(`live: chain input: rule "tcp dport @public_ports accept" is missing on the host, loaded as rendered planned; ${advice}`);
        expect(exitCode(results)).toBe(1);
        const printed = formatJson(results) + formatTable("lab", results);
        for (const secret of ["s3cr3t", "abc123secret", sha256(envFile.content).slice(0, 12), "c2VjcmV0LXRscy1rZXk="]) expect(printed).not.toContain(secret);
    });

    it("a host that cannot be reached fails each of its checks with the SSH reason; the other host is still checked", async () => {
        const converged = standInHosts(other, otherPlan);
        const pinned = `ssh ops@192.0.2.10:2222: the host key it presented is not the one pinned in limen:frontend.hostKey`;
        let frontendDials = 0;
        const runOn: RunOnHost = async (target, _key, command, options) => {
            if (target.role === "frontend") {
                frontendDials++;
                throw sshError(pinned);
            }
            return toExec(converged.answer(target.role as HostRole, command, options.stdin));
        };
        const results = await collect(runChecks(other, otherPlan, new PlannedHosts({ frontend: otherPlan.frontend.ssh, backend: otherPlan.backend.ssh }, "key", runOn)));
        const byName = Object.fromEntries(results.map((r) => [r.check, r]));
        for (const name of allCheckNames.filter((check) => !check.startsWith("backend "))) expect(byName[name], name).toMatchObject({ ok: false, detail: pinned });
        expect(byName["backend firewall"]!.ok).toBe(true);
        expect(byName["backend host tool"]!.ok).toBe(true);
        // Dialled once: the later checks on that host report the first failure.
        expect(frontendDials).toBe(1);
    });
});
