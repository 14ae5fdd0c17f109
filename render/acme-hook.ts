/**
 * certbot's deploy hook for renewals (/etc/letsencrypt/renewal-hooks/deploy/limen-publish). certbot
 * runs it after each successful renewal with RENEWED_LINEAGE set; it hands the lineage the stack
 * manages to the host tool's `tls-publish`, which checks the new pair before Envoy sees it. A lineage
 * the stack does not manage is left alone.
 */
import { shellWord } from "../core/shell";

export interface RenewalHookSpec {
    hostTool: string;
    certificates: { lineageDir: string; publishDir: string; domains: string[] }[];
}

export function renderRenewalHook(spec: RenewalHookSpec): string {
    // Each case hands its fixed request to the tool on stdin (a quoted here-document: nothing expanded).
    const cases = spec.certificates.map((certificate) => {
        const request = JSON.stringify({
            command: "tls-publish",
            output: "text",
            lineageDir: certificate.lineageDir,
            publishDir: certificate.publishDir,
            domains: certificate.domains,
        });
        return [`    ${shellWord(certificate.lineageDir)})`, `        exec ${shellWord(spec.hostTool)} <<'LIMEN_REQUEST'`, request, "LIMEN_REQUEST", "        ;;"].join("\n");
    });
    return [
        "#!/bin/sh",
        "# Rendered by limen-infra; replaced by `pulumi up`. certbot runs it after each successful renewal.",
        "# A refused pair makes this hook fail: certbot reports it, and Envoy keeps serving the previous pair.",
        "set -eu",
        'case "${RENEWED_LINEAGE:-}" in',
        ...cases,
        "    *) exit 0 ;;",
        "esac",
        "",
    ].join("\n");
}
