/**
 * The certificates served for limen:domains, judged the way a browser and an on-call engineer would:
 * days left (a failure under `failBelowDays`, a warning under `warnBelowDays`), whether the names
 * cover each domain, whether key and chain belong together, and for certificates the stack issues
 * whether certbot's renewals are running and being served. The facts come from the same probe the
 * certificate resources read on `pulumi refresh` (hostio/certificates.ts).
 */
import type { ToolScript } from "../hostio/host-tool-run";
import { CertificateFacts, certificateProbeCommand, daysLeft, parseCertificateProbe, plannedResponder, uncoveredDomains } from "../hostio/certificates";
import type { CertificatePlan } from "../plan/certificates";
import { HostRole } from "../plan/hosts";
import { RemoteResult } from "./remote";
import { CheckResult, commandFailure, lastLine, oneLine } from "./result";

/**
 * certbot renews 30 days before expiry and retries twice a day, so a healthy certificate never has
 * fewer than ~29 days left: under 21 means about a week of failed renewals; under 10, act now.
 */
export const certificateThresholds = { warnBelowDays: 21, failBelowDays: 10 } as const;

export const certificateCheckName = (role: HostRole, certificate: CertificatePlan) => `${role} certificate ${certificate.name}`;

export function certificateProbe(certificate: CertificatePlan): ToolScript {
    return certificateProbeCommand({ chainPath: certificate.chainPath, keyPath: certificate.keyPath, lineageDir: certificate.acme?.lineageDir });
}

const day = (date: Date) => date.toISOString().slice(0, 10);

export function judgeCertificate(role: HostRole, certificate: CertificatePlan, result: RemoteResult, now: Date): CheckResult {
    const check = certificateCheckName(role, certificate);
    const reading = `reading ${certificate.chainPath} on the ${role}`;
    const failure = commandFailure(result, reading);
    if (failure) return { check, ok: false, detail: failure };
    if (result.status !== 0) return { check, ok: false, detail: `${reading} exited ${result.status}: ${oneLine(lastLine(result.stderr))}` };
    let facts: CertificateFacts;
    try {
        facts = parseCertificateProbe(result.stdout);
    } catch (error) {
        return { check, ok: false, detail: (error as Error).message };
    }
    const fail = (detail: string): CheckResult => ({ check, ok: false, detail });
    const repair = certificate.acme ? "run `pulumi up --refresh` to obtain and publish it" : "put a valid pair there";
    if (facts.refused) return fail(`${certificate.chainPath} not read: ${facts.refused}`);
    if (!facts.present) return fail(`no certificate at ${certificate.chainPath}; ${repair}`);
    if (!facts.notAfter) return fail(`${certificate.chainPath} holds no readable certificate; ${repair}`);

    const problems: string[] = [];
    const warnings: string[] = [];
    const left = daysLeft(facts.notAfter, now);
    const renewalHint = certificate.acme ? "renewals are failing: `journalctl -u certbot.service`" : "renew it";
    if (left < 0) problems.push(`expired on ${day(facts.notAfter)}`);
    else if (left < certificateThresholds.failBelowDays)
        problems.push(`${left} days left (until ${day(facts.notAfter)}), under ${certificateThresholds.failBelowDays}: ${renewalHint}`);
    else if (left < certificateThresholds.warnBelowDays)
        warnings.push(`${left} days left (until ${day(facts.notAfter)}), under ${certificateThresholds.warnBelowDays}: ${renewalHint}`);
    const uncovered = uncoveredDomains(facts.names, certificate.domains);
    if (uncovered.length > 0) problems.push(`does not cover ${uncovered.join(", ")} (it names ${facts.names.join(", ") || "no DNS name"})`);
    if (!facts.keyMatches) problems.push(`the key ${certificate.keyPath} does not belong to the certificate`);
    if (!facts.chainInOrder) problems.push("the chain is out of order or incomplete");

    if (certificate.acme) {
        if (facts.lineage === "missing") problems.push(`certbot holds no certificate ${certificate.name}; run \`pulumi up --refresh\``);
        else if (facts.lineage === "not served")
            problems.push(
                "certbot holds another certificate than the one served: the renewal hook refused it or did not run (`journalctl -u certbot.service`); `pulumi up --refresh` publishes it if it passes the checks",
            );
        const responder = plannedResponder(certificate.acme.responder);
        if (facts.lineage !== "missing" && facts.responder !== responder) {
            problems.push(
                `certbot renews with \`${facts.responder.trim() || "no settings"}\`, not ${responder} where Envoy forwards the challenge, so renewals fail; run \`pulumi up --refresh\``,
            );
        }
        if (facts.renewalTimer !== "enabled") problems.push(`certbot.timer is ${facts.renewalTimer || "missing"}, so nothing renews; run \`pulumi up --refresh\``);
        if (facts.lastRenewal !== "" && facts.lastRenewal !== "success") warnings.push(`the last certbot run ended with ${facts.lastRenewal}: \`journalctl -u certbot.service\``);
    }
    if (problems.length > 0) return fail([...problems, ...warnings].join("; "));
    const summary = `${left} days left (until ${day(facts.notAfter)}); covers ${certificate.domains.join(", ")}; key and chain match; issuer ${facts.issuer || "unknown"}`;
    if (warnings.length > 0) return { check, ok: true, warning: true, detail: `${warnings.join("; ")}; ${summary}` };
    return { check, ok: true, detail: certificate.acme ? `${summary}; renewed by certbot.timer` : summary };
}
