import { z } from "zod";
import { envValues, withRule } from "./fields";

/**
 * The keys whose values are secret. Their values never appear in a message, whatever is wrong with
 * them; config/load.ts also hides the values of any key Pulumi holds as a secret, and of unknown keys
 * (a misspelled secret is still a secret).
 */
export const secretKeys = ["sshPrivateKey", "tlsPrivateKey", "envProductionSecrets"] as const;

const privateKeyPem = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** limen:sshPrivateKey: the deploy user's private key. */
export const sshPrivateKeySchema = withRule(
    z.string().regex(privateKeyPem, { message: "must be a PEM or OpenSSH private key (set it with `pulumi config set --secret limen:sshPrivateKey < key`)" }),
    "must be a PEM or OpenSSH private key (set it with `pulumi config set --secret limen:sshPrivateKey < key`)",
);

/** limen:tlsPrivateKey: Envoy's TLS key when limen:tls.source is "config"; "" (Pulumi.yaml's default) means unset. */
export const tlsPrivateKeySchema = withRule(
    z
        .string()
        .refine((key) => key === "" || privateKeyPem.test(key), { message: "must be a PEM private key (set it with `pulumi config set --secret limen:tlsPrivateKey < key.pem`)" }),
    "must be a PEM private key (set it with `pulumi config set --secret limen:tlsPrivateKey < key.pem`)",
).optional();

/** limen:envProductionSecrets: further .env.production keys whose values are secret. */
export const envProductionSecretsSchema = envValues.default({});
