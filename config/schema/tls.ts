import { z } from "zod";
import { absolutePath, withRule } from "./fields";

export const tlsSourceRule = 'must say where the certificate comes from: source "host-files" (with certificateChainPath and privateKeyPath) or "config" (with certificateChain, and the key in limen:tlsPrivateKey)';

/** limen:tls: where Envoy's certificate and key come from. */
export const tlsSchema = withRule(
    z.discriminatedUnion("source", [
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
