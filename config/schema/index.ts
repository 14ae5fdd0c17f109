/**
 * The stack's configuration schema, one strict zod schema split by section: each `limen:<key>` of
 * Pulumi.yaml is one field here. Rules within one field live with the field (./fields.ts and the
 * sections); rules that compare keys live in ../rules.ts.
 */
import { z } from "zod";
import { appsSchema } from "./apps";
import { backendSchema } from "./backend";
import { domainsSchema } from "./domains";
import { envoySchema } from "./envoy";
import { frontendSchema } from "./frontend";
import { envProductionSecretsSchema, sshPrivateKeySchema, tlsPrivateKeySchema } from "./secrets";
import { sshSchema } from "./ssh";
import { tlsSchema } from "./tls";
import { verifySchema } from "./verify";

export { secretKeys } from "./secrets";

/** The Pulumi config namespace of every key (the project's name in Pulumi.yaml). */
export const configNamespace = "limen";
export { ruleWords, seedRule, nextPublicBackendUrlRule } from "./fields";

export const configSchema = z.strictObject({
    ssh: sshSchema,
    sshPrivateKey: sshPrivateKeySchema,
    frontend: frontendSchema,
    backend: backendSchema,
    envoy: envoySchema,
    tls: tlsSchema,
    tlsPrivateKey: tlsPrivateKeySchema,
    domains: domainsSchema,
    apps: appsSchema.prefault({}),
    verify: verifySchema.prefault({}),
    envProductionSecrets: envProductionSecretsSchema,
});

export type ConfigKey = keyof typeof configSchema.shape;
export type RawConfig = z.output<typeof configSchema>;
