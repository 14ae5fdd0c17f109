/**
 * The cross-key rules about host names and certificates (limen:domains, limen:tls, limen:tlsPrivateKey),
 * in the same form as the others; rules.ts lists them all.
 */
import { X509Certificate } from "node:crypto";
import { nameCovers } from "../core/certificate-names";
import type { CrossKeyRule, RuleFinding } from "./rule-types";
import { ConfigView, KeyPath } from "./view";

/** The host-name lists, one per app. */
const domainLists: KeyPath[] = [
    ["domains", "limen"],
    ["domains", "darc"],
];

/** Two list entries with the same value, as findings naming both. */
function duplicates(view: ConfigView, lists: KeyPath[], message: (value: string) => string): RuleFinding[] {
    const seen = new Map<string, KeyPath>();
    const findings: RuleFinding[] = [];
    for (const list of lists) {
        for (const [index, value] of view.elements<string>(list)) {
            const path = [...list, index];
            const first = seen.get(value);
            if (first) findings.push({ keys: [first, path], message: message(value) });
            else seen.set(value, path);
        }
    }
    return findings;
}

export const domainsRule: CrossKeyRule = {
    name: "each host name goes to one app",
    reads: [["domains"]],
    check: (view) => duplicates(view, domainLists, () => "the same host name twice: each host name goes to exactly one app, once (Envoy refuses a duplicate)"),
};

export const tlsKeyRule: CrossKeyRule = {
    name: "the TLS key comes from where the certificate does",
    reads: [["tls", "source"], ["tlsPrivateKey"]],
    check(view) {
        // A refused key is its own finding; nothing is compared with it.
        if (!view.readable(["tlsPrivateKey"])) return [];
        const source = view.get<string>(["tls", "source"]);
        const keySet = (view.get<string>(["tlsPrivateKey"]) ?? "") !== "";
        const keys: KeyPath[] = [["tlsPrivateKey"], ["tls", "source"]];
        if (source === "config" && !keySet) {
            return [
                {
                    keys,
                    message: "the TLS private key is required when the certificate comes from config (set it with `pulumi config set --secret limen:tlsPrivateKey < key.pem`)",
                },
            ];
        }
        if (source === "host-files" && keySet) {
            return [
                { keys, message: 'a TLS private key is set, but the certificate and key come from files on the host: remove the secret, or switch limen:tls.source to "config"' },
            ];
        }
        if (source === "acme" && keySet) {
            return [
                {
                    keys,
                    message: 'a TLS private key is set, but certbot makes the keys on the frontend with source "acme": remove the secret, or switch limen:tls.source to "config"',
                },
            ];
        }
        return [];
    },
};

export const certificatesCoverDomainsRule: CrossKeyRule = {
    name: "a certificate covers every domain",
    reads: [["tls", "source"], ["tls", "certificateChain"], ...domainLists],
    check(view) {
        const source = view.get<string>(["tls", "source"]);
        const findings: RuleFinding[] = [];
        if (source === "acme") {
            // HTTP-01, the challenge Envoy forwards, cannot prove a wildcard name (RFC 8555, 8.3).
            for (const list of domainLists) {
                for (const [index, domain] of view.elements<string>(list)) {
                    if (domain.startsWith("*.")) {
                        findings.push({
                            keys: [
                                [...list, index],
                                ["tls", "source"],
                            ],
                            message: `no certificate can cover ${domain}: ACME's HTTP-01 challenge cannot prove a wildcard name; list the host names themselves, or bring the certificate with source "host-files" or "config"`,
                        });
                    }
                }
            }
        }
        if (source === "config" && view.readable(["tls", "certificateChain"])) {
            let names: string[];
            try {
                const certificate = new X509Certificate(view.get<string>(["tls", "certificateChain"]) ?? "");
                names = (certificate.subjectAltName ?? "")
                    .split(", ")
                    .filter((entry) => entry.startsWith("DNS:"))
                    .map((entry) => entry.slice(4).toLowerCase());
            } catch (error) {
                return [{ keys: [["tls", "certificateChain"]], message: `must be a PEM certificate chain whose first certificate can be read: ${(error as Error).message}` }];
            }
            for (const list of domainLists) {
                for (const [index, domain] of view.elements<string>(list)) {
                    if (!names.some((name) => nameCovers(name, domain))) {
                        findings.push({
                            keys: [
                                [...list, index],
                                ["tls", "certificateChain"],
                            ],
                            message: `the certificate in limen:tls.certificateChain does not cover ${domain} (it names ${names.join(", ") || "no DNS name"}): browsers would refuse it`,
                        });
                    }
                }
            }
        }
        return findings;
    },
};
