/** Where a generated mistake changes the config (keys by kind), and the type swaps, white space and case it makes there. */
import fc from "fast-check";
import type { KeyPath } from "../../config";
import { secretMarker, Mutation, getIn, setFrom } from "./config-mutation-core";

// ---------------------------------------------------------------------------------------------
// Where to change.

export const portKeys: KeyPath[] = [
    ["ssh", "port"],
    ["backend", "apiPort"],
    ["backend", "agentPort"],
    ["envoy", "httpPort"],
    ["envoy", "httpsPort"],
    ["apps", "limenFrontend", "port"],
    ["apps", "darc", "port"],
    ["backend", "publicApiPorts", 0],
];

export const hostAddressKeys: KeyPath[] = [
    ["frontend", "address"],
    ["backend", "address"],
    ["backend", "internalAddress"],
    ["backend", "agentAddress"],
    ["frontend", "internalAddresses", 0],
    ["backend", "internalClients", 0],
    ["ssh", "deployFrom", 0],
];

export const bindKeys: KeyPath[] = [
    ["apps", "limenFrontend", "host"],
    ["apps", "darc", "host"],
];

/** Keys of every other kind, and whole sections, for type swaps, white space and deletions. */
export const otherKeys: KeyPath[] = [
    ["ssh"],
    ["ssh", "user"],
    ["ssh", "adminNetworks"],
    ["ssh", "deployFrom"],
    ["ssh", "connectAttempts"],
    ["ssh", "connectTimeoutSeconds"],
    ["ssh", "firewallConfirmSeconds"],
    ["sshPrivateKey"],
    ["frontend"],
    ["frontend", "hostKey"],
    ["frontend", "internalAddresses"],
    ["backend"],
    ["backend", "hostKey"],
    ["backend", "publicApiPorts"],
    ["backend", "internalClients"],
    ["envoy"],
    ["envoy", "enabled"],
    ["envoy", "image"],
    ["envoy", "configPath"],
    ["envoy", "backendRoutePrefixes"],
    ["envoy", "backendRoutePrefixes", 0],
    ["tls"],
    ["tls", "certificateChainPath"],
    ["tls", "privateKeyPath"],
    ["tls", "certificateChain"],
    ["tlsPrivateKey"],
    ["domains"],
    ["domains", "limen"],
    ["domains", "limen", 0],
    ["domains", "darc"],
    ["apps"],
    ["apps", "user"],
    ["apps", "ecosystemPath"],
    ["apps", "instances"],
    ["apps", "restart"],
    ["apps", "restart", "killTimeoutMs"],
    ["apps", "limenFrontend", "name"],
    ["apps", "limenFrontend", "cwd"],
    ["apps", "darc", "name"],
    ["apps", "darc", "args"],
    ["apps", "darc", "args", 0],
    ["apps", "extraEnv"],
    ["envProductionSecrets"],
];

export const isSecretPath = (path: KeyPath) => ["sshPrivateKey", "tlsPrivateKey", "envProductionSecrets"].includes(String(path[0]));

// ---------------------------------------------------------------------------------------------
// Type swaps, white space and case.

/** Another type for the value at a key, in the forms Pulumi and YAML produce. */
const typeSwaps: { name: string; swap: (value: unknown) => unknown }[] = [
    { name: "as text", swap: (v) => (typeof v === "string" ? v : JSON.stringify(v ?? "")) },
    { name: "as a fraction", swap: (v) => (typeof v === "number" ? v + 0.5 : 2.5) },
    { name: "as a number", swap: (v) => (typeof v === "number" ? -v : 18443) },
    { name: "as true", swap: () => true },
    { name: 'as "true"', swap: () => "true" },
    { name: "as null", swap: () => null },
    { name: "in a list", swap: (v) => [v] },
    { name: "in a map", swap: (v) => ({ value: v }) },
    { name: "as an empty text", swap: () => "" },
    { name: "as JSON text of a list", swap: (v) => JSON.stringify([v]) },
    { name: "as an empty list", swap: () => [] },
];

/** White space and case, the changes copying and pasting makes. */
const textChanges: { name: string; change: (text: string) => string }[] = [
    { name: "leading space", change: (t) => ` ${t}` },
    { name: "trailing space", change: (t) => `${t} ` },
    { name: "trailing newline", change: (t) => `${t}\n` },
    { name: "tab", change: (t) => `\t${t}` },
    { name: "upper case", change: (t) => t.toUpperCase() },
    { name: "lower case", change: (t) => t.toLowerCase() },
    { name: "brackets", change: (t) => `[${t}]` },
    { name: "quotes", change: (t) => `"${t}"` },
];

/** A secret key's value keeps the marker whatever is done to it, so a leak is visible. */
const markSecret = (path: KeyPath, value: unknown): unknown =>
    isSecretPath(path) && typeof value === "string" && !value.includes(secretMarker) ? `${secretMarker}-${value}` : value;

export const typeSwap = fc
    .tuple(fc.constantFrom(...portKeys, ...hostAddressKeys, ...bindKeys, ...otherKeys), fc.constantFrom(...typeSwaps))
    .map(([path, { name, swap }]): Mutation => setFrom(`type swap ${name}`, path, (config) => markSecret(path, swap(getIn(config, path)))));

const stringKeys = [...hostAddressKeys, ...bindKeys, ...otherKeys.filter((path) => path.length > 1 || ["sshPrivateKey", "tlsPrivateKey"].includes(String(path[0])))];

export const textChange = fc.tuple(fc.constantFrom(...stringKeys), fc.constantFrom(...textChanges)).map(([path, { name, change }]): Mutation =>
    setFrom(`${name}`, path, (config) => {
        const value = getIn(config, path);
        return typeof value === "string" ? change(value) : markSecret(path, change(String(value ?? "")));
    }),
);
