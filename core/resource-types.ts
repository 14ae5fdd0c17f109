/**
 * The types of the stack's host resources, served by this project's provider plugin (package `limen`,
 * Pulumi.yaml `plugins.providers`). Shared by the resources (components/), the plugin
 * (provider/server.ts) and the policy pack, so the three cannot disagree.
 */
export const hostResourceTypes = {
    /** `path`, `mode`, `owner`, `check` (`none`, `nft`, `ecosystem`, `envoy`) and `content` of one file. */
    file: "limen:host:HostFile",
    /** The host tool: the same inputs as a file (it is one, installed without the tool). */
    hostTool: "limen:host:HostTool",
    /** The nftables table: `ruleset` is what it loads and keeps for boot. */
    firewall: "limen:host:FirewallTable",
    /** The frontend's pm2 apps. */
    pm2: "limen:host:Pm2Apps",
    /** A certificate certbot issues on the frontend: names, server, responder. */
    certificate: "limen:host:AcmeCertificate",
    /** The name Envoy's container runs under, freed of containers that are not the stack's. */
    containerName: "limen:host:ContainerName",
    /** The front door's release: a new bootstrap or image judged on a candidate, served by a standby while the container is replaced. */
    envoyRelease: "limen:host:EnvoyRelease",
    /** After Envoy's container is created: ready, the gate, the release's standby gone (the type of 1.x's gate, kept). */
    envoyGate: "limen:host:EnvoyGate",
} as const;

/** The fact a container-name claim converges to: no container that is not the stack's holds the name. */
export const containerNameFree = "free for the stack's container";

export type HostResourceType = (typeof hostResourceTypes)[keyof typeof hostResourceTypes];
