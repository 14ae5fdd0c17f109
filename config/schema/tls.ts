import { z } from "zod";
import { absolutePath, withRule } from "./fields";

export const tlsSourceRule =
    'must say where the certificates come from: source "acme" (with email; certbot on the frontend issues and renews them), "host-files" (with certificateChainPath and privateKeyPath) or "config" (with certificateChain, and the key in limen:tlsPrivateKey)';

/** Let's Encrypt's production directory; its staging directory is for trial runs (untrusted certificates, high limits). */
export const letsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory";
export const letsEncryptStagingDirectory = "https://acme-staging-v02.api.letsencrypt.org/directory";

/** The default port of certbot's HTTP-01 responder: below 1024, and used by nothing on a Debian host. */
export const acmeResponderPort = 402;

export const responderPortRule =
    "must be a port below 1024, which only root can bind: whoever holds the ACME responder's port answers the HTTP-01 challenges for every domain the door serves, and could get certificates for them";

const responderPort = withRule(z.int().min(1, { message: responderPortRule }).max(1023, { message: responderPortRule }), responderPortRule);

/** The ACME account e-mail: Let's Encrypt sends expiry and policy notices there. */
const acmeEmail = withRule(
    z.email({ message: "must be an e-mail address such as ops@darc.kr (the ACME account's contact)" }),
    "must be an e-mail address such as ops@darc.kr (the ACME account's contact)",
);

const acmeDirectoryUrl = withRule(
    z.url({ protocol: /^https$/, message: `must be an ACME directory URL on https, such as ${letsEncryptDirectory}` }),
    `must be an ACME directory URL on https, such as ${letsEncryptDirectory}`,
);

const certificateLayout = withRule(
    z.enum(["per-site", "single"]),
    'must be "per-site" (one certificate for limen:domains.limen, one for limen:domains.darc, picked by SNI) or "single" (one certificate covering every domain)',
);

/** limen:tls: where Envoy's certificates and keys come from. */
export const tlsSchema = withRule(
    z.discriminatedUnion("source", [
        z.strictObject({
            /**
             * certbot (Debian's package) on the frontend issues the certificates over HTTP-01 and
             * renews them from its own timer; Envoy takes them through SDS and reloads them when
             * a renewal swaps them in.
             */
            source: z.literal("acme"),
            email: acmeEmail,
            /** The ACME directory; default Let's Encrypt's production one. */
            directoryUrl: acmeDirectoryUrl.default(letsEncryptDirectory),
            /** One certificate per site (default) or one for every domain. */
            certificates: certificateLayout.default("per-site"),
            /**
             * Where certbot's HTTP-01 responder listens during an issuance or renewal, on 127.0.0.1 only.
             * Whoever holds this port answers the challenges for every domain the door serves, so it
             * must be one only root can bind (the host tool also checks the host's
             * net.ipv4.ip_unprivileged_port_start).
             */
            responderPort: responderPort.default(acmeResponderPort),
        }),
        z.strictObject({
            /** The certificate and key already sit on the frontend (for instance certbot's live/ directory). */
            source: z.literal("host-files"),
            certificateChainPath: absolutePath,
            privateKeyPath: absolutePath,
        }),
        z.strictObject({
            /** The certificate comes from config; its key from the secret limen:tlsPrivateKey. */
            source: z.literal("config"),
            certificateChain: withRule(
                z.string().regex(/-----BEGIN CERTIFICATE-----/, { message: "must be a PEM certificate chain (-----BEGIN CERTIFICATE----- …)" }),
                "must be a PEM certificate chain (-----BEGIN CERTIFICATE----- …)",
            ),
        }),
    ]),
    tlsSourceRule,
);
