/**
 * Drift: hand changes of the kind a tired operator makes over SSH, each on converged hosts. For every
 * one, `pulumi preview --refresh` names exactly the drifted resources, `pulumi up --refresh` repairs
 * them, `npm run verify` passes afterwards, the next `up --refresh` changes nothing, and the outsider
 * never reaches the backend's internal ports. Runs after 4-policy.test.ts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { configureLabStack, engineEnv, LabHosts, openLabStack, pulumiBinary, readLabHosts, recordFigure, repoRoot, stackName } from "../stack";
import { labResourceCount, onHostOk, pm2Status, previewRefresh, tcpOpen } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const resourceCount = labResourceCount;
const pm2 = (command: string) => `su - limen -c ${JSON.stringify(`pm2 ${command}`)}`;
const envFile = "/srv/limen-frontend/.env.production";

interface HandChange {
    what: string;
    host: "frontend" | "backend";
    script: string;
    /** Resources `preview --refresh` must name, and no others. */
    drifted: string[];
    /** What the preview's diff must say about it (property names of the facts). */
    says: RegExp;
}

const handChanges: HandChange[] = [
    {
        what: "NEXT_PUBLIC_BACKEND_URL appended to .env.production",
        host: "frontend",
        script: `echo NEXT_PUBLIC_BACKEND_URL=http://198.51.100.100:18443 >> ${envFile}`,
        // The apps started before the file's last change: they are reloaded with the repaired file.
        drifted: ["frontend-apps-env-production", "frontend-apps-pm2"],
        says: /contentSha256/,
    },
    {
        what: ".env.production made world-readable",
        host: "frontend",
        script: `chmod 0644 ${envFile}`,
        drifted: ["frontend-apps-env-production"],
        says: /mode\s*: "0644" => "0600"/,
    },
    {
        what: ".env.production handed to root",
        host: "frontend",
        script: `chown root:root ${envFile}`,
        drifted: ["frontend-apps-env-production"],
        says: /owner\s*: "root:root" => "limen:limen"/,
    },
    { what: ".env.production deleted", host: "frontend", script: `rm ${envFile}`, drifted: ["frontend-apps-env-production"], says: /state\s*: "missing" => "present"/ },
    {
        // Moved in as Envoy watches for: it serves the hand-made route until the repair moves the planned file back.
        what: "Envoy's listeners file replaced by hand (a route added, moved into the watched directory)",
        host: "frontend",
        script: "sed 's#prefix: /$#prefix: /hand#' /etc/limen/envoy/dynamic/lds.yaml > /etc/limen/envoy/dynamic/.lds.hand && mv /etc/limen/envoy/dynamic/.lds.hand /etc/limen/envoy/dynamic/lds.yaml",
        drifted: ["frontend-envoy-lds"],
        says: /contentSha256/,
    },
    {
        what: "the ecosystem edited to bind 0.0.0.0 and reloaded",
        host: "frontend",
        script: `sed -i 's/"127.0.0.1"/"0.0.0.0"/g' /etc/limen/pm2/ecosystem.config.js && ${pm2("startOrReload /etc/limen/pm2/ecosystem.config.js --update-env")} >/dev/null && sleep 3`,
        drifted: ["frontend-apps-ecosystem", "frontend-apps-pm2"],
        says: /listening/,
    },
    {
        what: "the frontend's table deleted",
        host: "frontend",
        script: "nft delete table inet limen_firewall",
        drifted: ["frontend-firewall-table"],
        says: /live\s*: "missing" => "loaded as rendered"/,
    },
    {
        what: "a rule inserted on the backend that accepts 18443 from anywhere",
        host: "backend",
        script: "nft insert rule inet limen_firewall input tcp dport 18443 accept && nft insert rule inet limen_firewall prerouting tcp dport 18443 accept",
        drifted: ["backend-firewall-table"],
        says: /rule \\"tcp dport 18443 accept\\" is not in the stack's ruleset/,
    },
    {
        what: "the backend's rule for the frontend deleted",
        host: "backend",
        script: "h=$(nft -a list chain inet limen_firewall input | grep '@internal_clients_v4' | grep -o 'handle [0-9]*' | head -1 | cut -d' ' -f2) && nft delete rule inet limen_firewall input handle $h",
        drifted: ["backend-firewall-table"],
        says: /is missing/,
    },
    {
        what: "the backend's input policy flipped to accept",
        host: "backend",
        script: "nft chain inet limen_firewall input '{ policy accept; }'",
        drifted: ["backend-firewall-table"],
        says: /chain input is/,
    },
    { what: "the backend's boot ruleset emptied", host: "backend", script: ": > /etc/limen/firewall/limen.nft", drifted: ["backend-firewall-table"], says: /bootRulesetSha256/ },
    {
        what: "limen-firewall.service disabled on the backend",
        host: "backend",
        script: "systemctl disable --quiet limen-firewall.service",
        drifted: ["backend-firewall-table"],
        says: /bootUnit\s*: "disabled" => "enabled"/,
    },
    { what: "the darc.kr app deleted from pm2", host: "frontend", script: `${pm2("delete darc-kr")} >/dev/null`, drifted: ["frontend-apps-pm2"], says: /darc-kr\s*: "missing"/ },
    {
        what: "limen-frontend stopped in pm2",
        host: "frontend",
        script: `${pm2("stop limen-frontend")} >/dev/null`,
        drifted: ["frontend-apps-pm2"],
        says: /limen-frontend: "2 stopped"/,
    },
    {
        what: "pm2's boot unit disabled",
        host: "frontend",
        script: "systemctl disable --quiet pm2-limen.service",
        drifted: ["frontend-apps-pm2"],
        says: /bootService\s*: "disabled" => "enabled"/,
    },
    {
        what: "the rotation of pm2's logs stopped (its timer disabled and stopped)",
        host: "frontend",
        script: "systemctl disable --now --quiet limen-pm2-logrotate.timer",
        drifted: ["frontend-apps-pm2"],
        says: /logRotation\s*: "disabled, inactive" => "enabled, active"/,
    },
    {
        what: "logrotate's config edited so that pm2's logs never rotate by size",
        host: "frontend",
        script: "sed -i 's/maxsize .*/maxsize 100000G/' /etc/limen/logrotate/pm2.conf",
        drifted: ["frontend-apps-pm2-logrotate-config"],
        says: /contentSha256/,
    },
    {
        // pm2 keeps one backup (dump.pm2.bak) that covers one loss; with both gone nothing comes back at boot.
        what: "pm2's saved list and its backup deleted",
        host: "frontend",
        script: "rm -f /home/limen/.pm2/dump.pm2 /home/limen/.pm2/dump.pm2.bak",
        drifted: ["frontend-apps-pm2"],
        says: /savedList\s*: "nothing saved: ~\/.pm2\/dump.pm2 is missing" => "limen-frontend ×2, darc-kr ×2"/,
    },
    {
        // Every read works without the tool (the probes carry their own text, the container name's too):
        // the refresh names it, and one `up --refresh` puts it back.
        what: "the host tool deleted on the frontend",
        host: "frontend",
        script: "rm -rf /usr/local/libexec/limen",
        drifted: ["frontend-host-tool"],
        says: /state\s*: "missing" => "present"/,
    },
    {
        what: "the host tool edited on the backend",
        host: "backend",
        script: "echo '# edited by hand' >> /usr/local/libexec/limen/limen-host",
        drifted: ["backend-host-tool"],
        says: /contentSha256/,
    },
];

function verifyPasses(): { ok: boolean; failed: string[] } {
    const run = spawnSync("npm", ["run", "--silent", "verify", "--", "--stack", stackName, "--json"], {
        cwd: repoRoot,
        env: { ...process.env, ...engineEnv(), LIMEN_PULUMI_BIN: pulumiBinary() },
        encoding: "utf8",
        timeout: 180_000,
    });
    const rows = JSON.parse(run.stdout) as { check: string; ok: boolean; detail: string }[];
    return { ok: run.status === 0, failed: rows.filter((row) => !row.ok).map((row) => `${row.check}: ${row.detail}`) };
}

function backendClosedToOutsider(): boolean {
    const backend = hosts.hosts.backend;
    return [backend.ipv4, backend.ipv6].every((address) => [18443, 9000].every((port) => !tcpOpen(hosts.hosts.outsider.namespace, address, port)));
}

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await configureLabStack(hosts);
    const result = await stack.up({ color: "never", refresh: true, onOutput: () => undefined });
    expect(result.summary.result).toBe("succeeded");
}, 300_000);

describe("a hand change on a host is seen and repaired", () => {
    it.each(handChanges)(
        "$what",
        async (change) => {
            // A case that fails leaves its drift behind: repaired here so the next case starts converged.
            onTestFailed(async () => {
                await stack.up({ color: "never", refresh: true, onOutput: () => undefined }).catch(() => undefined);
            });
            onHostOk(change.host, change.script);
            if (change.what.startsWith("a rule inserted")) {
                // The drift is real: the outsider gets in until it is repaired.
                expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, 18443)).toBe(true);
            }

            const preview = await previewRefresh(stack);
            expect(preview.changed).toEqual([...change.drifted].sort());
            expect(preview.text).toMatch(change.says);

            const started = Date.now();
            const repair = await stack.up({ color: "never", refresh: true, onOutput: () => undefined });
            expect(repair.summary.result).toBe("succeeded");
            expect(repair.summary.resourceChanges).toEqual({ same: resourceCount - change.drifted.length, update: change.drifted.length });
            recordFigure(`drift repaired: ${change.what}`, `${((Date.now() - started) / 1000).toFixed(1)} s`);

            expect(backendClosedToOutsider()).toBe(true);
            expect(pm2Status()).toEqual({ "limen-frontend": "online", "darc-kr": "online" });
            expect(verifyPasses()).toEqual({ ok: true, failed: [] });

            const again = await stack.up({ color: "never", refresh: true, onOutput: () => undefined });
            expect(again.summary.resourceChanges).toEqual({ same: resourceCount });
        },
        300_000,
    );
});

describe("drift in a secret file", () => {
    it("shows as drift, and its value appears in no output, log or state export", async () => {
        const secretValue = "drift-check-s3cret-value-7f2a";
        await configureLabStack(hosts, { secretEnv: { SESSION_SECRET: secretValue } });
        await stack.up({ color: "never", onOutput: () => undefined });
        const handValue = "hand-edited-s3cret-value-91c4";
        onHostOk("frontend", `sed -i 's/${secretValue}/${handValue}/' ${envFile}`);

        const preview = await previewRefresh(stack);
        expect(preview.changed).toEqual(["frontend-apps-env-production", "frontend-apps-pm2"]);
        expect(preview.text).toMatch(/contentMatches\s*: "changed on the host" => "as planned"/);
        let upOutput = "";
        await stack.up({ color: "never", refresh: true, onOutput: (line) => (upOutput += line) });
        expect(onHostOk("frontend", `grep SESSION_SECRET ${envFile}`).trim()).toBe(`SESSION_SECRET=${secretValue}`);
        const exported = execFileSync(pulumiBinary(), ["stack", "export", "--stack", stackName], { cwd: repoRoot, env: { ...process.env, ...engineEnv() }, encoding: "utf8" });
        for (const text of [preview.text, upOutput, exported]) {
            expect(text).not.toContain(secretValue);
            expect(text).not.toContain(handValue);
        }
        await configureLabStack(hosts);
        const reset = await stack.up({ color: "never", onOutput: () => undefined });
        expect(reset.summary.result).toBe("succeeded");
    }, 300_000);
});
