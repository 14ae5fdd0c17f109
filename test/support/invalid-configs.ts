/**
 * A corpus of invalid configs: every rule of the schema and the seed's wrong settings in their many
 * spellings. Each entry changes a valid config (any stack's: prod's in the unit tests, the lab's in
 * the end-to-end tests) and names the key its error must name. The rows after the first block are
 * the classes the config boundary once let through or reported badly (wrong types told as missing, a
 * clash filed under the other key, absolute URLs without a scheme, the backend at the frontend's own
 * address), and the counterexamples test/config/config.property.test.ts found.
 */
export type StructuredConfig = Record<string, unknown>;

export interface InvalidConfig {
    /** What is wrong, in words. */
    name: string;
    /** The Pulumi config key (with path) the error message must start with. */
    key: string;
    breakIt: (config: StructuredConfig) => StructuredConfig;
}

function patch(key: string, fields: Record<string, unknown>) {
    return (config: StructuredConfig): StructuredConfig => ({ ...config, [key]: { ...(config[key] as object), ...fields } });
}

function patchApp(app: string, fields: Record<string, unknown>) {
    return (config: StructuredConfig): StructuredConfig => {
        const apps = (config["limen:apps"] ?? {}) as Record<string, unknown>;
        return { ...config, "limen:apps": { ...apps, [app]: { ...(apps[app] as object), ...fields } } };
    };
}

const loopbackBackends = ["localhost", "127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"];

export const invalidConfigs: InvalidConfig[] = [
    ...loopbackBackends.map((address) => ({
        name: `BACKEND_HOST ${address} (loopback)`,
        key: "limen:backend.internalAddress",
        breakIt: patch("limen:backend", { internalAddress: address }),
    })),
    { name: "AGENT_HOST localhost", key: "limen:backend.agentAddress", breakIt: patch("limen:backend", { agentAddress: "LocalHost" }) },
    { name: "backend address 0.0.0.0", key: "limen:backend.address", breakIt: patch("limen:backend", { address: "0.0.0.0" }) },
    { name: "backend address ::", key: "limen:backend.address", breakIt: patch("limen:backend", { address: "::" }) },
    { name: "backend address as a host name", key: "limen:backend.address", breakIt: patch("limen:backend", { address: "backend.internal" }) },
    {
        name: "internal port used as the external one",
        key: "limen:backend.apiPort",
        breakIt: patch("limen:backend", { apiPort: 8443, publicApiPorts: [8443] }),
    },
    { name: "18443 listed as a public port", key: "limen:backend.publicApiPorts[0]", breakIt: patch("limen:backend", { publicApiPorts: [18443] }) },
    { name: "9000 listed as a public port", key: "limen:backend.publicApiPorts[0]", breakIt: patch("limen:backend", { publicApiPorts: [9000] }) },
    {
        name: "NEXT_PUBLIC_BACKEND_URL set",
        key: "limen:apps.extraEnv.NEXT_PUBLIC_BACKEND_URL",
        breakIt: patch("limen:apps", { extraEnv: { NEXT_PUBLIC_BACKEND_URL: "/api" } }),
    },
    {
        name: "an absolute URL with the backend's port",
        key: "limen:apps.extraEnv.API_URL",
        breakIt: patch("limen:apps", { extraEnv: { API_URL: "http://203.0.113.5:18443/api" } }),
    },
    { name: "an absolute URL to localhost", key: "limen:apps.extraEnv.API_URL", breakIt: patch("limen:apps", { extraEnv: { API_URL: "http://localhost/api" } }) },
    {
        name: "a NEXT_PUBLIC absolute URL",
        key: "limen:apps.extraEnv.NEXT_PUBLIC_API",
        breakIt: patch("limen:apps", { extraEnv: { NEXT_PUBLIC_API: "https://api.example.org" } }),
    },
    { name: "BACKEND_PORT overridden in extraEnv", key: "limen:apps.extraEnv.BACKEND_PORT", breakIt: patch("limen:apps", { extraEnv: { BACKEND_PORT: "8443" } }) },
    { name: "Next.js on 0.0.0.0", key: "limen:apps.limenFrontend.host", breakIt: patchApp("limenFrontend", { host: "0.0.0.0" }) },
    { name: "darc.kr on ::", key: "limen:apps.darc.host", breakIt: patchApp("darc", { host: "::" }) },
    { name: "Next.js on localhost (a name, not 127.0.0.1)", key: "limen:apps.limenFrontend.host", breakIt: patchApp("limenFrontend", { host: "localhost" }) },
    { name: "pm2 app renamed", key: "limen:apps.limenFrontend.name", breakIt: patchApp("limenFrontend", { name: "web" }) },
    {
        name: "internal ports opened to everyone",
        key: "limen:backend.internalClients[0]",
        breakIt: patch("limen:backend", { internalClients: ["0.0.0.0"] }),
    },
    {
        name: "internal ports opened to another host",
        key: "limen:backend.internalClients[0]",
        breakIt: patch("limen:backend", { internalClients: ["203.0.113.9"] }),
    },
    { name: "empty SSH allow-list", key: "limen:ssh.adminNetworks", breakIt: patch("limen:ssh", { adminNetworks: [] }) },
    { name: "SSH allow-list not a CIDR", key: "limen:ssh.adminNetworks[0]", breakIt: patch("limen:ssh", { adminNetworks: ["everyone"] }) },
    {
        name: "deploying from outside the allow-list",
        key: "limen:ssh.deployFrom[0]",
        breakIt: patch("limen:ssh", { adminNetworks: ["203.0.113.0/24"], deployFrom: ["198.51.100.99"] }),
    },
    { name: "root as the SSH user", key: "limen:ssh.user", breakIt: patch("limen:ssh", { user: "root" }) },
    { name: "no pinned frontend host key", key: "limen:frontend.hostKey", breakIt: patch("limen:frontend", { hostKey: "" }) },
    { name: "a host key that is not a key", key: "limen:backend.hostKey", breakIt: patch("limen:backend", { hostKey: "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==" }) },
    { name: "darc.kr port on Next.js's", key: "limen:apps.darc.port", breakIt: patchApp("darc", { port: 9444 }) },
    { name: "agent port on the API's", key: "limen:backend.agentPort", breakIt: patch("limen:backend", { agentPort: 18443 }) },
    { name: "port out of range", key: "limen:backend.apiPort", breakIt: patch("limen:backend", { apiPort: 70000 }) },
    { name: "an unknown top-level key", key: "limen:fronted", breakIt: (config) => ({ ...config, "limen:fronted": { address: "198.51.100.10" } }) },
    { name: "an unknown nested key", key: "limen:backend.apiport", breakIt: patch("limen:backend", { apiport: 18443 }) },
    { name: "an Envoy image without a digest", key: "limen:envoy.image", breakIt: patch("limen:envoy", { image: "envoyproxy/envoy:v1.38-latest" }) },
    { name: "Envoy routing / to the backend", key: "limen:envoy.backendRoutePrefixes[0]", breakIt: patch("limen:envoy", { backendRoutePrefixes: ["/"] }) },
    { name: "a firewall confirmation window too short", key: "limen:ssh.firewallConfirmSeconds", breakIt: patch("limen:ssh", { firewallConfirmSeconds: 5 }) },
    {
        name: "a domain for both sites",
        key: "limen:domains.darc[0]",
        breakIt: (config) => patch("limen:domains", { darc: (config["limen:domains"] as { limen: string[] }).limen })(config),
    },
    { name: "the domains missing", key: "limen:domains", breakIt: ({ "limen:domains": _removed, ...rest }) => rest },

    { name: "a port given as text", key: "limen:backend.apiPort", breakIt: patch("limen:backend", { apiPort: "18443" }) },
    { name: "a port that is not a whole number", key: "limen:backend.agentPort", breakIt: patch("limen:backend", { agentPort: 9000.5 }) },
    { name: "a port of 0", key: "limen:apps.darc.port", breakIt: patchApp("darc", { port: 0 }) },
    { name: "a port past 65535", key: "limen:envoy.httpsPort", breakIt: patch("limen:envoy", { httpsPort: 65536 }) },
    { name: "a switch given as text", key: "limen:envoy.enabled", breakIt: patch("limen:envoy", { enabled: "true" }) },
    {
        name: "an ACME responder port any user could bind (it answers the challenges for every domain)",
        key: "limen:tls.responderPort",
        breakIt: (config) => ({ ...config, "limen:tls": { source: "acme", email: "ops@darc.kr", responderPort: 8402 } }),
    },
    {
        name: "one CIDR instead of a list",
        key: "limen:ssh.adminNetworks",
        breakIt: (config) => patch("limen:ssh", { adminNetworks: (config["limen:ssh"] as { adminNetworks: string[] }).adminNetworks[0] })(config),
    },
    { name: "a CIDR with host bits", key: "limen:ssh.adminNetworks[0]", breakIt: patch("limen:ssh", { adminNetworks: ["10.0.0.5/24"] }) },
    // Found by test/config/config.property.test.ts: nft refuses a set whose networks overlap, on the host.
    {
        name: "an admin network inside another",
        key: "limen:ssh.adminNetworks[1]",
        breakIt: (config) => patch("limen:ssh", { adminNetworks: [(config["limen:ssh"] as { adminNetworks: string[] }).adminNetworks[0], "0.0.0.0/0"] })(config),
    },
    { name: "SSH on the backend's API port (a clash naming both keys)", key: "limen:ssh.port", breakIt: patch("limen:ssh", { port: 18443 }) },
    { name: "Envoy's admin port, removed in 2.0.0", key: "limen:envoy.adminPort", breakIt: patch("limen:envoy", { adminPort: 9901 }) },
    {
        name: "a misspelled secret key",
        key: "limen:sshPrivatekey",
        breakIt: (config) => ({ ...config, "limen:sshPrivatekey": "-----BEGIN OPENSSH PRIVATE KEY-----\nbWlzc3BlbGxlZA==\n-----END OPENSSH PRIVATE KEY-----\n" }),
    },
    { name: "a structured key set without --path", key: "limen:backend.agentPort", breakIt: (config) => ({ ...config, "limen:backend.agentPort": "9100" }) },
    {
        name: "BACKEND_HOST at the frontend's own address",
        key: "limen:backend.internalAddress",
        breakIt: (config) => patch("limen:backend", { internalAddress: (config["limen:frontend"] as { address: string }).address })(config),
    },
    {
        name: "the backend at an IPv4 address in brackets",
        key: "limen:backend.address",
        breakIt: (config) => patch("limen:backend", { address: `[${(config["limen:backend"] as { address: string }).address}]` })(config),
    },
    { name: "the backend at a shortened IPv4 address", key: "limen:backend.internalAddress", breakIt: patch("limen:backend", { internalAddress: "10.1" }) },
    { name: "the backend at an IPv4-mapped address", key: "limen:backend.agentAddress", breakIt: patch("limen:backend", { agentAddress: "::ffff:203.0.113.7" }) },
    {
        name: "a scheme-relative URL to the backend",
        key: "limen:apps.extraEnv.API_URL",
        breakIt: (config) => patch("limen:apps", { extraEnv: { API_URL: `//${(config["limen:backend"] as { address: string }).address}:18443/api` } })(config),
    },
    {
        name: "host:port of the backend without a scheme",
        key: "limen:apps.extraEnv.API_HOST",
        breakIt: (config) => patch("limen:apps", { extraEnv: { API_HOST: `${(config["limen:backend"] as { address: string }).address}:18443` } })(config),
    },
    // Found by test/config/config.property.test.ts: a one-number IPv4 host before a port, and a scheme-relative
    // URL, which a browser resolves against the HTTPS page (so :80 is a port there).
    { name: "a one-number loopback host:port", key: "limen:apps.extraEnv.API_URL", breakIt: patch("limen:apps", { extraEnv: { API_URL: "2130706433:18443/api" } }) },
    { name: "a scheme-relative URL with port 80", key: "limen:apps.extraEnv.API_URL", breakIt: patch("limen:apps", { extraEnv: { API_URL: "//192.0.2.1:80/api" } }) },
    { name: "HOSTNAME in .env.production", key: "limen:apps.extraEnv.HOSTNAME", breakIt: patch("limen:apps", { extraEnv: { HOSTNAME: "0.0.0.0" } }) },
    { name: "the bind flags in an app's args", key: "limen:apps.darc.args[0]", breakIt: patchApp("darc", { args: ["-H", "0.0.0.0"] }) },
];

/** Turns a structured config into the strings Pulumi hands a program. */
export function toRawConfig(config: StructuredConfig): Record<string, string> {
    return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
}

/** The reverse of toRawConfig, for a stack file's raw map. */
export function toStructuredConfig(raw: Record<string, string>): StructuredConfig {
    return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, value.trim().startsWith("{") || value.trim().startsWith("[") ? JSON.parse(value) : value]));
}
