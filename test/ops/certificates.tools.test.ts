/** The certificate probe (ops/certificates.ts) run for real on pairs made here with openssl, judged at chosen dates. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { CertificatePlan } from "../../plan/certificates";
import { certificateProbe, judgeCertificate } from "../../ops/certificates";
import { CheckResult } from "../../ops/checks";
import { exitCode, formatJson, formatTable } from "../../ops/report";
import { openssl, selfSignedPair } from "../support/certificates";
import { ok } from "../support/probe-outputs";
import { scratchDir, sudoShim } from "../support/stand-in-hosts";
import { localStep } from "../support/tool-script";

describe("certificates: the probe run for real, judged by days left, names, key and chain", () => {
    const dir = scratchDir("limen-verify-tls-");
    /** A self-signed pair for `names`, valid `days`, in `dir/<label>/`. */
    const pair = (label: string, names: string[], days: number) => selfSignedPair(path.join(dir, label), names, days);
    const served = (files: { chainPath: string; keyPath: string }, domains: string[], lineageDir?: string): CertificatePlan => ({
        name: "limen",
        domains,
        ...files,
        sdsPath: undefined,
        acme: lineageDir
            ? {
                  email: "ops@example.org",
                  directoryUrl: "https://acme.example.org/dir",
                  responder: { address: "127.0.0.1", port: 402 },
                  lineageDir,
                  publishDir: path.dirname(files.chainPath),
                  renewalHook: "/nonexistent",
              }
            : undefined,
    });
    const probe = (certificate: CertificatePlan, units: { timer?: string; lastRun?: string } = {}) => {
        const env = {
            ...process.env,
            PATH: `${sudoShim()}:${process.env.PATH}`,
            LIMEN_TEST_UNIT_STATE: units.timer ?? "enabled",
            LIMEN_TEST_SERVICE_RESULT: units.lastRun ?? "success",
        };
        const run = spawnSync("sh", ["-c", `sudo -n ${localStep(certificateProbe(certificate))}`], { encoding: "utf8", env });
        return ok(run.stdout, run.status ?? 1, run.stderr);
    };
    const daysFromNow = (days: number) => new Date(Date.now() + days * 86_400_000);
    const good = pair("good", ["limen.example.org", "www.example.org"], 90);
    const domains = ["limen.example.org", "www.example.org"];

    it("a fresh pair covering every domain passes with its days left", () => {
        const result = judgeCertificate("frontend", served(good, domains), probe(served(good, domains)), new Date());
        expect(result.ok, result.detail).toBe(true);
        expect(result.warning).toBeUndefined();
        expect(result.detail).toMatch(
            /^(89|90) days left \(until \d{4}-\d\d-\d\d\); covers limen\.example\.org, www\.example\.org; key and chain match; issuer CN=limen\.example\.org$/,
        );
    });

    it("warns under 21 days, fails under 10 and once expired, naming the date", () => {
        const certificate = served(good, domains);
        const output = probe(certificate);
        const at = (daysLeft: number) => judgeCertificate("frontend", certificate, output, new Date(daysFromNow(90).getTime() - daysLeft * 86_400_000 - 3_600_000));
        expect(at(25)).toMatchObject({ ok: true });
        expect(at(25).warning).toBeUndefined();
        expect(at(15)).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^15 days left \(until .*\), under 21: renew it/) });
        expect(at(5)).toMatchObject({ ok: false, detail: expect.stringMatching(/^5 days left .*under 10/) });
        expect(at(-3)).toMatchObject({ ok: false, detail: expect.stringMatching(/^expired on \d{4}-\d\d-\d\d/) });
    });

    it("fails when the names do not cover a domain, the key is another, or the chain is out of order", () => {
        const narrow = pair("narrow", ["limen.example.org"], 90);
        expect(judgeCertificate("frontend", served(narrow, domains), probe(served(narrow, domains)), new Date())).toMatchObject({
            ok: false,
            detail: "does not cover www.example.org (it names limen.example.org)",
        });
        const other = pair("other", domains, 90);
        const mismatched = { chainPath: good.chainPath, keyPath: other.keyPath };
        expect(judgeCertificate("frontend", served(mismatched, domains), probe(served(mismatched, domains)), new Date())).toMatchObject({
            ok: false,
            detail: `the key ${other.keyPath} does not belong to the certificate`,
        });
        // The leaf followed by a certificate that did not sign it.
        const brokenChain = path.join(dir, "broken-chain.pem");
        writeFileSync(brokenChain, openssl("x509", "-in", good.chainPath) + openssl("x509", "-in", other.chainPath));
        const broken = { chainPath: brokenChain, keyPath: good.keyPath };
        expect(judgeCertificate("frontend", served(broken, domains), probe(served(broken, domains)), new Date())).toMatchObject({
            ok: false,
            detail: "the chain is out of order or incomplete",
        });
        const missing = { chainPath: path.join(dir, "none.pem"), keyPath: good.keyPath };
        expect(judgeCertificate("frontend", served(missing, domains), probe(served(missing, domains)), new Date())).toMatchObject({
            ok: false,
            detail: `no certificate at ${missing.chainPath}; put a valid pair there`,
        });
    });

    it("for an issued certificate, a lineage that is not the one served, or no renewal timer, fails", () => {
        // certbot's layout: live/<name>/ beside renewal/<name>.conf, written as certbot writes it.
        const lineage = pair("certbot/live/limen", domains, 90);
        const renewalConf = path.join(dir, "certbot", "renewal", "limen.conf");
        spawnSync("mkdir", ["-p", path.dirname(renewalConf)]);
        const writeRenewal = (authenticator: string, port: number) =>
            writeFileSync(
                renewalConf,
                `version = 2.1.0\n[renewalparams]\nauthenticator = ${authenticator}\nserver = https://acme.example.org/dir\nhttp01_port = ${port}\nhttp01_address = 127.0.0.1\n`,
            );
        writeRenewal("standalone", 402);
        const certificate = served(good, domains, path.dirname(lineage.chainPath));
        const result = judgeCertificate("frontend", certificate, probe(certificate), new Date());
        expect(result.ok).toBe(false);
        expect(result.detail).toMatch(/^certbot holds another certificate than the one served: the renewal hook refused it or did not run/);
        const sameAsServed = served(lineage, domains, path.dirname(lineage.chainPath));
        const healthy = judgeCertificate("frontend", sameAsServed, probe(sameAsServed), new Date());
        expect(healthy.ok, healthy.detail).toBe(true);
        expect(healthy.detail).toMatch(/renewed by certbot\.timer$/);
        expect(judgeCertificate("frontend", sameAsServed, probe(sameAsServed, { timer: "disabled" }), new Date())).toMatchObject({
            ok: false,
            detail: "certbot.timer is disabled, so nothing renews; run `pulumi up --refresh`",
        });
        expect(judgeCertificate("frontend", sameAsServed, probe(sameAsServed, { lastRun: "exit-code" }), new Date())).toMatchObject({
            ok: true,
            warning: true,
            detail: expect.stringMatching(/^the last certbot run ended with exit-code: `journalctl -u certbot.service`; \d+ days left/),
        });
        // A lineage renewed another way (by hand, on port 80) would fail behind Envoy.
        writeRenewal("standalone", 80);
        expect(judgeCertificate("frontend", sameAsServed, probe(sameAsServed), new Date())).toMatchObject({
            ok: false,
            detail: "certbot renews with `standalone 127.0.0.1:80`, not standalone 127.0.0.1:402 where Envoy forwards the challenge, so renewals fail; run `pulumi up --refresh`",
        });
    });

    it("the table marks a warning WARN and counts it, without failing the run", () => {
        const warned: CheckResult = { check: "frontend certificate limen", ok: true, warning: true, detail: "15 days left" };
        const table = formatTable("lab", [warned]);
        expect(table).toMatch(/frontend certificate limen\s+WARN\s+15 days left/);
        expect(table).toContain("all 1 checks passed, 1 with a warning");
        expect(exitCode([warned])).toBe(0);
        expect(JSON.parse(formatJson([warned]))).toEqual([{ check: "frontend certificate limen", ok: true, warning: true, detail: "15 days left" }]);
    });
});
