/**
 * Certificates from ACME on a real frontend: Let's Encrypt's test server pebble (lab/acme/pebble.ts)
 * runs in the frontend's network namespace, its HTTP-01 validation going to the frontend's port 80,
 * through Envoy's challenge route, to certbot's responder on 127.0.0.1:402; its endpoint CA is trusted
 * on the frontend for this test only. `pulumi up` with limen:tls.source "acme" makes certbot obtain one certificate per site and
 * publishes each checked pair where Envoy's SDS files point; a forced renewal goes through certbot's
 * own hook and swaps the pair atomically, and Envoy serves the new one; SNI picks each site's certificate
 * through the front door; a failed renewal leaves the served pair; `verify` reports each certificate's
 * days left and names. It leaves the stack on the acme source (the next file configures its own).
 */
import { spawn, spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LabAcme, startPebble, trustOnFrontend, untrustOnFrontend } from "../acme/pebble";
import { configureLabStack, engineEnv, LabHosts, openLabStack, pulumiBinary, readLabHosts, recordFigure, repoRoot, stackName, stateDir } from "../stack";
import { inNamespace, onHost, onHostOk, stormLoop } from "./probes";

const responderPort = 402;
const domains = { limen: "limen.lab.test", darc: "darc.lab.test" };

let hosts: LabHosts;
let pebble: LabAcme | undefined;
let stack: Stack;

/** Where the served pair of a certificate is, and what it is. */
function served(name: string): { version: string; serial: string; names: string; issuer: string; sameAsLineage: boolean } {
    const dir = `/etc/limen/tls/${name}`;
    const out = onHostOk(
        "frontend",
        `readlink ${dir}/current; openssl x509 -in ${dir}/current/fullchain.pem -noout -serial -issuer -ext subjectAltName | tr -d '\\n'; echo; cmp -s ${dir}/current/fullchain.pem /etc/letsencrypt/live/${name}/fullchain.pem && echo same || echo differs`,
    ).split("\n");
    const facts = out[1] ?? "";
    return {
        version: out[0]!.trim(),
        serial: /serial=([0-9A-F]+)/.exec(facts)?.[1] ?? "",
        names: /DNS:[^\s,]+/g.exec(facts)?.[0] ?? "",
        issuer: /issuer=([^]*?)X509v3/.exec(facts)?.[1]?.trim() ?? "",
        sameAsLineage: out[2]?.trim() === "same",
    };
}

/** The serial and names of the certificate the front door presents for `serverName` (SNI), seen from the outsider. */
function presented(serverName: string): { serial: string; names: string } {
    const frontend = hosts.hosts.frontend.ipv4;
    const handshake = inNamespace(
        hosts.hosts.outsider.namespace,
        "sh",
        "-c",
        `openssl s_client -connect ${frontend}:443 -servername ${serverName} </dev/null 2>/dev/null | openssl x509 -noout -serial -ext subjectAltName | tr -d '\n'`,
    );
    return { serial: /serial=([0-9A-F]+)/.exec(handshake.stdout)?.[1] ?? "", names: /DNS:[^\s,]+/.exec(handshake.stdout)?.[0] ?? "" };
}

function verifyRows(): { check: string; ok: boolean; warning?: boolean; detail: string }[] {
    const run = spawnSync("npm", ["run", "--silent", "verify", "--", "--stack", stackName, "--json"], {
        cwd: repoRoot,
        env: { ...process.env, ...engineEnv(), LIMEN_PULUMI_BIN: pulumiBinary() },
        encoding: "utf8",
        timeout: 120_000,
    });
    try {
        return JSON.parse(run.stdout);
    } catch {
        throw new Error(`verify printed no JSON (exit ${run.status}): ${run.stdout}\n${run.stderr}`);
    }
}

beforeAll(async () => {
    hosts = readLabHosts();
    // Envoy's port 80, as Let's Encrypt's validation reaches a server.
    pebble = await startPebble({ validationPort: 80, domains: Object.values(domains) });
    await trustOnFrontend(pebble.acmeCaPem);
    // Opened (created when the lab is new) before its config is written.
    stack = await openLabStack();
    await configureLabStack(hosts, { tls: { source: "acme", email: "ops@lab.test", directoryUrl: pebble.directoryUrl } });
}, 180_000);

afterAll(async () => {
    await untrustOnFrontend().catch(() => undefined);
    await pebble?.stop();
}, 60_000);

describe("ACME certificates on the lab's frontend (pebble)", () => {
    it("pulumi up obtains one certificate per site from the ACME server and publishes each where Envoy looks", async () => {
        const started = Date.now();
        const result = await stack.up({ color: "never" });
        recordFigure("acme: first up with issuance", `${((Date.now() - started) / 1000).toFixed(1)} s`);
        expect(result.summary.result).toBe("succeeded");
        for (const [name, domain] of Object.entries(domains)) {
            const pair = served(name);
            expect(pair.names, name).toBe(`DNS:${domain}`);
            expect(pair.issuer, name).toMatch(/Pebble/);
            expect(pair.sameAsLineage, name).toBe(true);
            // The published key is root-only; the directory swap is a symlink.
            expect(onHostOk("frontend", `stat -c '%a %U' /etc/limen/tls/${name}/current/privkey.pem; test -L /etc/limen/tls/${name}/current && echo link`).trim()).toBe(
                "600 root\nlink",
            );
        }
        expect(onHostOk("frontend", "systemctl is-enabled certbot.timer").trim()).toBe("enabled");
        const renewal = Object.fromEntries(
            onHostOk("frontend", "cat /etc/letsencrypt/renewal/limen.conf")
                .split("\n")
                .map((line) => line.split(" = "))
                .filter((pair) => pair.length === 2),
        );
        expect({ authenticator: renewal.authenticator, http01_port: renewal.http01_port, http01_address: renewal.http01_address, server: renewal.server }).toEqual({
            authenticator: "standalone",
            http01_port: String(responderPort),
            http01_address: "127.0.0.1",
            server: pebble!.directoryUrl,
        });
        // Nothing listens on the responder port between renewals.
        expect(onHost("frontend", `ss -Hltn 'sport = :${responderPort}' | grep -q .`).status).toBe(1);
        // pebble's validation requests came in on port 80 and Envoy's challenge route answered them.
        // (Envoy's access log: one JSON line per request, its keys sorted.)
        const challenges = onHostOk("frontend", `docker logs limen-envoy 2>/dev/null | grep -c '"path":"/.well-known/acme-challenge/[^"]*".*"status":200' || true`).trim();
        expect(Number(challenges)).toBeGreaterThanOrEqual(Object.keys(domains).length);
    }, 300_000);

    it("through the front door, SNI picks each site's certificate that pebble issued", () => {
        for (const [name, domain] of Object.entries(domains)) {
            expect(presented(domain), domain).toEqual({ serial: served(name).serial, names: `DNS:${domain}` });
        }
    });

    it("on port 80 the challenge path goes to the responder's route, every other path to https", () => {
        const frontend = hosts.hosts.frontend.ipv4;
        const get = (urlPath: string) =>
            inNamespace(hosts.hosts.outsider.namespace, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Host: ${domains.limen}`, `http://${frontend}${urlPath}`)
                .stdout;
        // No issuance is running, so nothing answers behind the route: Envoy says the upstream is down.
        expect(get("/.well-known/acme-challenge/lab-probe")).toBe("503");
        expect(get("/.well-known/other")).toBe("301");
    });

    it("a second pulumi up --refresh reads the certificates and changes nothing", async () => {
        const again = await stack.up({ color: "never", refresh: true });
        expect(again.summary.resourceChanges).toEqual({ same: again.summary.resourceChanges!.same });
        expect(again.summary.resourceChanges!.same).toBeGreaterThan(13);
    }, 180_000);

    it("a forced renewal goes through certbot's hook and swaps the pair in one rename: a reader never sees a mixed pair", () => {
        const before = served("limen");
        // A reader on the frontend checks, as fast as it can, that the pair it finds belongs together. It
        // resolves current/ once per read, as Envoy reads a pair together (and reads again when a file
        // changed in between): what it must never find is a version directory with a chain and key of
        // two certificates, or one not yet complete.
        const reader = spawn(`${repoRoot}/lab/hosts/exec.sh`, [
            "frontend",
            "sh",
            "-c",
            "end=$(($(date +%s) + 40)); reads=0; mixed=0; while [ $(date +%s) -lt $end ] && [ ! -e /run/limen-acme-stop ]; do " +
                "v=/etc/limen/tls/limen/$(readlink /etc/limen/tls/limen/current); " +
                'a=$(openssl x509 -in "$v/fullchain.pem" -noout -pubkey 2>/dev/null | sha256sum); b=$(openssl pkey -in "$v/privkey.pem" -pubout 2>/dev/null | sha256sum); ' +
                'reads=$((reads + 1)); [ "$a" = "$b" ] || mixed=$((mixed + 1)); done; echo "$reads $mixed"',
        ]);
        let readerOut = "";
        reader.stdout.on("data", (chunk) => (readerOut += chunk));
        const readerDone = new Promise<void>((resolve) => reader.on("close", () => resolve()));
        // Clients through 443 from the outsider, on new connections, during the renewal.
        const stopFile = path.join(stateDir, `acme-storm-stop-${process.pid}`);
        rmSync(stopFile, { force: true });
        const clients = stormLoop(hosts, `https://${domains.limen}/`, { mode: "fresh", stopFile });
        onHostOk("frontend", "sleep 1");
        const started = Date.now();
        const renewal = onHost("frontend", "certbot renew --non-interactive --no-random-sleep-on-renew --force-renewal --cert-name limen");
        recordFigure("acme: forced renewal (certbot renew + hook)", `${((Date.now() - started) / 1000).toFixed(1)} s`);
        expect(renewal.status, renewal.stderr).toBe(0);
        onHostOk("frontend", "touch /run/limen-acme-stop");
        return readerDone.then(async () => {
            onHostOk("frontend", "rm -f /run/limen-acme-stop");
            // The door through the swap: Envoy picks the new pair up in place (SDS), no request fails.
            await vi.waitFor(() => expect(presented(domains.limen).serial).not.toBe(before.serial), { timeout: 15_000, interval: 500 });
            writeFileSync(stopFile, "");
            const storm = JSON.parse((await clients).trim().split("\n").at(-1) ?? "{}") as { requests?: number; failed?: number };
            rmSync(stopFile, { force: true });
            recordFigure("acme: the door during a renewal", `${storm.requests} requests through 443, ${storm.failed} failed`);
            expect(storm.requests).toBeGreaterThan(0);
            expect(storm.failed).toBe(0);
            const after = served("limen");
            expect(after.version).not.toBe(before.version);
            expect(after.serial).not.toBe(before.serial);
            expect(after.sameAsLineage).toBe(true);
            const [reads, mixed] = readerOut.trim().split(" ").map(Number);
            recordFigure("acme: pair reads during the renewal", `${reads}, ${mixed} mixed`);
            expect(reads).toBeGreaterThan(0);
            expect(mixed).toBe(0);
            // The darc certificate was not touched.
            expect(served("darc").sameAsLineage).toBe(true);
            // Envoy saw the swap in its watched directory and serves the new pair (SDS), without a restart.
            return vi.waitFor(() => expect(presented(domains.limen).serial).toBe(after.serial), { timeout: 15_000, interval: 500 });
        });
    }, 180_000);

    it("verify reports each certificate's days left and the names it covers", () => {
        const rows = verifyRows();
        for (const [name, domain] of Object.entries(domains)) {
            const row = rows.find((r) => r.check === `frontend certificate ${name}`);
            expect(row, JSON.stringify(rows)).toMatchObject({
                ok: true,
                detail: expect.stringMatching(
                    new RegExp(
                        `^\\d+ days left \\(until \\d{4}-\\d\\d-\\d\\d\\); covers ${domain.replace(/\./g, "\\.")}; key and chain match; issuer .*Pebble.*; renewed by certbot\\.timer$`,
                    ),
                ),
            });
        }
        expect(rows.filter((r) => !r.ok)).toEqual([]);
    }, 180_000);

    it("a served pair deleted by hand is named by preview --refresh and put back by up --refresh", async () => {
        onHostOk("frontend", "rm /etc/limen/tls/darc/current");
        const preview = await stack.preview({ color: "never", refresh: true, diff: true });
        expect(preview.stdout).toMatch(/frontend-certificates-darc/);
        expect(preview.stdout).toMatch(/served\s*: "nothing" => "certbot's current certificate"/);
        const repair = await stack.up({ color: "never", refresh: true });
        expect(repair.summary.result).toBe("succeeded");
        expect(served("darc").sameAsLineage).toBe(true);
    }, 180_000);

    it("a renewal that fails (the ACME server is gone) leaves the served pair and says so", async () => {
        const before = served("limen");
        await pebble!.stop();
        pebble = undefined;
        const renewal = onHost("frontend", "certbot renew --non-interactive --no-random-sleep-on-renew --force-renewal --cert-name limen");
        expect(renewal.status).not.toBe(0);
        expect(renewal.stdout + renewal.stderr).toMatch(/limen/);
        const after = served("limen");
        expect(after.version).toBe(before.version);
        expect(after.sameAsLineage).toBe(true);
    }, 180_000);
});
