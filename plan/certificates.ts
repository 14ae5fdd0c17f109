/**
 * The certificates Envoy serves (limen:tls): which pairs, where each sits on the frontend, and for
 * `acme` what certbot issues, where it publishes and how Envoy is handed the pairs. Pure, like the
 * rest of plan/.
 */
import * as path from "node:path";
import type { LimenConfig } from "../config";
import type { EnvoyTls } from "../render/envoy";
import { acmePaths, envoyTlsDir, sdsFile } from "../core/host-paths";

/** A certificate certbot issues and renews over ACME HTTP-01 (limen:tls.source "acme"). */
export interface AcmePlan {
    email: string;
    directoryUrl: string;
    /** certbot's HTTP-01 responder during an issuance or renewal; Envoy forwards the challenges there. */
    responder: { address: string; port: number };
    /** certbot's lineage: live/NAME. */
    lineageDir: string;
    /** Where the checked pair is published for Envoy: DIR/current -> DIR/VERSION/. */
    publishDir: string;
    /** certbot's deploy hook that publishes each renewal. */
    renewalHook: string;
}

/** A certificate Envoy serves, with where its pair sits on the frontend. */
export interface CertificatePlan {
    /** `limen`, `darc` or `sites`: certbot's --cert-name and the SDS secret's name. */
    name: string;
    /** The names it must cover (limen:domains). */
    domains: string[];
    chainPath: string;
    keyPath: string;
    /** Set when the stack issues and renews it; unset for host-files and config sources. */
    acme: AcmePlan | undefined;
    /** Envoy's SDS file for it (acme with Envoy enabled only). */
    sdsPath: string | undefined;
}

/** The certificates served for limen:domains and where each pair sits on the frontend. */
export function certificatePlans(config: LimenConfig): CertificatePlan[] {
    const allDomains = [...config.domains.limen, ...config.domains.darc];
    const tls = config.tls;
    if (tls.source === "host-files") {
        return [{ name: "sites", domains: allDomains, chainPath: tls.certificateChainPath, keyPath: tls.privateKeyPath, acme: undefined, sdsPath: undefined }];
    }
    if (tls.source === "config") {
        return [{ name: "sites", domains: allDomains, chainPath: `${envoyTlsDir}/fullchain.pem`, keyPath: `${envoyTlsDir}/privkey.pem`, acme: undefined, sdsPath: undefined }];
    }
    const sets =
        tls.certificates === "single"
            ? [{ name: "sites", domains: allDomains }]
            : [
                  { name: "limen", domains: config.domains.limen },
                  { name: "darc", domains: config.domains.darc },
              ];
    return sets.map(({ name, domains }) => {
        const publishDir = path.posix.join(acmePaths.publishDir, name);
        return {
            name,
            domains,
            chainPath: `${publishDir}/current/fullchain.pem`,
            keyPath: `${publishDir}/current/privkey.pem`,
            acme: {
                email: tls.email,
                directoryUrl: tls.directoryUrl,
                responder: { address: acmePaths.responderAddress, port: tls.responderPort },
                lineageDir: path.posix.join(acmePaths.certbotDir, "live", name),
                publishDir,
                renewalHook: acmePaths.renewalHook,
            },
            sdsPath: config.envoy.enabled ? sdsFile(name) : undefined,
        };
    });
}

/** How Envoy gets its pairs: named in the bootstrap (host-files, config) or through SDS (acme). */
export function envoyTls(config: LimenConfig): EnvoyTls {
    const certificates = certificatePlans(config);
    if (config.tls.source !== "acme") return { mode: "files", certificateChainPath: certificates[0]!.chainPath, privateKeyPath: certificates[0]!.keyPath };
    return {
        mode: "sds",
        certificates: certificates.map((certificate) => ({
            name: certificate.name,
            serverNames: certificate.domains,
            sdsPath: sdsFile(certificate.name),
        })),
    };
}

/**
 * The directory to mount for a certificate file. certbot's live/ entries are symlinks into
 * ../../archive/, so the whole /etc/letsencrypt tree must be visible for them to resolve.
 */
export function certificateMount(file: string): string {
    return file.startsWith("/etc/letsencrypt/") ? "/etc/letsencrypt" : path.posix.dirname(file);
}
