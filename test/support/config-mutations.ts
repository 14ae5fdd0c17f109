/**
 * Generated mistakes for the config boundary's property test: from a valid config, change a few keys
 * the way operators do (a type swapped, a space or case changed, an address in another spelling, a
 * port at or past an edge, a CIDR, an absolute URL in an env value, a key misspelled or set without
 * --path, a secret mishandled) and record which keys each change touched.
 *
 * Every secret value a mutation writes carries `secretMarker`, and nothing else does: a message that
 * contains the marker has leaked a secret.
 */
import fc from "fast-check";
import type { KeyPath } from "../../config";
import { secretMarker, Structured, Mutation, clone, setIn, getIn, set, setFrom } from "./config-mutation-core";
import { portKeys, hostAddressKeys, bindKeys, otherKeys, isSecretPath, typeSwap, textChange } from "./config-mutation-keys";
import { addressChange, portChange, cidrChange, envUrlChange, envPlainChange } from "./config-mutation-values";

// ---------------------------------------------------------------------------------------------
// Unknown and misspelled keys, keys set without --path, secrets.

const misspellings: { name: string; change: (key: string) => string }[] = [
    { name: "lower case", change: (k) => k.toLowerCase() },
    { name: "one letter's case", change: (k) => k.replace(/[A-Z]/, (c) => c.toLowerCase()).replace(/^[a-z]/, (c) => (k === k.toLowerCase() ? c.toUpperCase() : c)) },
    { name: "a letter dropped", change: (k) => k.slice(0, 2) + k.slice(3) },
    { name: "snake case", change: (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) },
    { name: "a letter doubled", change: (k) => k.slice(0, 3) + k[2] + k.slice(3) },
];

const topKeys = ["ssh", "sshPrivateKey", "frontend", "backend", "envoy", "tls", "tlsPrivateKey", "domains", "apps", "envProductionSecrets"];
const secretPrivateKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${secretMarker}-misspelled-key-body\n-----END OPENSSH PRIVATE KEY-----\n`;

const unknownTopKey = fc.tuple(fc.constantFrom(...topKeys), fc.constantFrom(...misspellings), fc.boolean()).map(([key, { name, change }, withSecretFlag]): Mutation => {
    const misspelled = change(key);
    const secret = isSecretPath([key]);
    return {
        label: `misspelled top-level key (${name}): ${misspelled}${withSecretFlag ? " --secret" : ""}`,
        touches: [[misspelled]],
        apply: (config, base) => (misspelled === key ? config : { ...config, [misspelled]: secret ? secretPrivateKey : clone(base[key] ?? "x") }),
        secret: withSecretFlag || secret ? [misspelled] : [],
    };
});

const nestedFields: KeyPath[] = [
    ["backend", "apiPort"],
    ["backend", "internalAddress"],
    ["apps", "extraEnv"],
    ["ssh", "adminNetworks"],
    ["envoy", "httpsPort"],
    ["apps", "limenFrontend", "port"],
    ["domains", "limen"],
];

const unknownNestedKey = fc.tuple(fc.constantFrom(...nestedFields), fc.constantFrom(...misspellings)).map(([path, { name, change }]): Mutation => {
    const misspelled = [...path.slice(0, -1), change(String(path.at(-1)))];
    return setFrom(`misspelled key (${name})`, misspelled, (config) => clone(getIn(config, path) ?? 1));
});

/** `pulumi config set limen:ssh.port 2222` without --path: one top-level key named "ssh.port". */
const withoutPath = fc
    .constantFrom<[string, string, boolean]>(
        ["ssh.port", "2222", false],
        ["backend.apiPort", "18443", false],
        ["apps.extraEnv.LOG_LEVEL", "info", false],
        ["ssh.adminNetworks[0]", "10.0.0.0/24", false],
        ["envProductionSecrets.TOKEN", `${secretMarker}-dotted`, true],
        ["ssh.prot", "22", false],
    )
    .map(([key, value, secret]): Mutation => ({
        label: `set without --path: ${key}`,
        touches: [[key]],
        apply: (config) => ({ ...config, [key]: value }),
        secret: secret ? [key] : [],
    }));

const secretPem = (what: string) => `-----BEGIN PRIVATE KEY-----\n${secretMarker}-${what}\n-----END PRIVATE KEY-----\n`;

const secretChange = fc.oneof(
    fc
        .constantFrom("", `${secretMarker}-not-a-key`, `  ${secretPem("padded")}  `, JSON.stringify({ key: `${secretMarker}-json` }), secretPem("other"))
        .map((value) => set("SSH private key", ["sshPrivateKey"], value)),
    fc.constant<Mutation>({ label: "SSH private key in plain text", touches: [["sshPrivateKey"]], apply: (config) => config, plainText: ["sshPrivateKey"] }),
    fc.constantFrom(secretPem("tls"), "", `${secretMarker}-not-pem`).map((value) => set("TLS private key", ["tlsPrivateKey"], value)),
    fc.constant<Mutation>({ label: "TLS private key removed", touches: [["tlsPrivateKey"]], apply: (config) => setIn(config, ["tlsPrivateKey"], undefined) }),
    fc.constant<Mutation>({
        label: "env secrets in plain text",
        touches: [["envProductionSecrets"]],
        apply: (config) => setIn(config, ["envProductionSecrets", "PLAIN"], `${secretMarker}-plain`),
        plainText: ["envProductionSecrets"],
    }),
    fc
        .constantFrom<unknown>(
            { TOKEN: `${secretMarker}-1` },
            { [`${secretMarker}-pasted`]: "x" },
            { TOKEN: [`${secretMarker}-list`] },
            { NOTE: `${secretMarker}\nsecond line` },
            JSON.stringify({ A: `${secretMarker}-text` }),
            `${secretMarker}-not-a-map`,
        )
        .map((value) => set("env secrets", ["envProductionSecrets"], value)),
);

/** A key Pulumi holds as secret because a value inside it was set with --secret --path. */
const heldSecret = fc
    .constantFrom<[string, KeyPath, unknown]>(
        ["apps", ["apps", "extraEnv", "TOKEN"], `${secretMarker}-held`],
        ["apps", ["apps", "user"], `${secretMarker}-user`],
        ["ssh", ["ssh", "user"], `root${secretMarker}`],
        ["backend", ["backend", "address"], `${secretMarker}.example`],
        ["backend", ["backend", "internalClients", 0], `${secretMarker}-client`],
        ["frontend", ["frontend", "hostKey"], `ssh-ed25519 ${secretMarker}`],
        ["domains", ["domains", "limen", 0], `${secretMarker}.example.org`],
    )
    .map(([top, path, value]): Mutation => ({ ...set("held as secret", path, value), secret: [top] }));

const deletion = fc
    .constantFrom(...portKeys, ...hostAddressKeys, ...bindKeys, ...otherKeys)
    .map((path): Mutation => ({ label: `deleted: ${path.join(".")}`, touches: [path], apply: (config) => setIn(config, path, undefined) }));

/** Switching the TLS source changes what every TLS field means: it touches the whole section. */
const tlsSource = fc
    .constantFrom("host-files", "config", "file", "", undefined)
    .map((source): Mutation => ({ ...set("TLS source", ["tls", "source"], source), touches: [["tls"]] }));

const enabledSwitch = fc.constantFrom(true, false).map((enabled) => set("Envoy switch", ["envoy", "enabled"], enabled));

/** One mistake of any class, from a config like `base` (URLs name its addresses). */
export const mutation = (base: Structured): fc.Arbitrary<Mutation> =>
    fc.oneof(
        { arbitrary: typeSwap, weight: 3 },
        { arbitrary: textChange, weight: 2 },
        { arbitrary: addressChange, weight: 4 },
        { arbitrary: portChange, weight: 3 },
        { arbitrary: cidrChange, weight: 2 },
        { arbitrary: envUrlChange(base), weight: 4 },
        { arbitrary: envPlainChange, weight: 1 },
        { arbitrary: unknownTopKey, weight: 1 },
        { arbitrary: unknownNestedKey, weight: 1 },
        { arbitrary: withoutPath, weight: 1 },
        { arbitrary: secretChange, weight: 2 },
        { arbitrary: heldSecret, weight: 1 },
        { arbitrary: deletion, weight: 2 },
        { arbitrary: tlsSource, weight: 1 },
        { arbitrary: enabledSwitch, weight: 1 },
    );
