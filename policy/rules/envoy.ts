/**
 * What the policies read in Envoy's config: a file resource whose content holds Envoy's clusters, as a
 * bootstrap with static_resources or as the CDS file Envoy's container watches (a DiscoveryResponse of
 * clusters), or one installed with the `envoy` check; its `content` parsed as YAML.
 */
import { parse as parseYaml } from "yaml";
import { envFileName } from "../../core/host-paths";
import { envoyClusterNames } from "../../render/envoy";
import { ResourceView, Unknown } from "../values";
import { loopbackReason, sameAddress } from "./addresses";
import { isEnvFile, parseEnv } from "./env-file";
import { describe, Finding, skipped, violation } from "./findings";
import { connectionAddress, isInstalledFile, textInput } from "./resources";

const clusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/** The clusters of an Envoy config: a bootstrap's static_resources.clusters, or a CDS DiscoveryResponse's resources; undefined for neither. */
function clustersOf(document: unknown): unknown[] | undefined {
    if (typeof document !== "object" || document === null) return undefined;
    if ("static_resources" in document) {
        const clusters = (document as { static_resources?: { clusters?: unknown } }).static_resources?.clusters;
        return Array.isArray(clusters) ? clusters : [];
    }
    const resources = (document as { resources?: unknown }).resources;
    if (Array.isArray(resources) && resources.some((r) => r?.["@type"] === clusterType)) return resources.filter((r) => r?.["@type"] === clusterType);
    return undefined;
}

/** Whether a text is an Envoy config that holds clusters (a bootstrap, or the CDS file). */
export function isEnvoyBootstrap(text: string): boolean {
    if (!/^static_resources\s*:/m.test(text) && !text.includes(clusterType)) return false;
    try {
        return clustersOf(parseYaml(text)) !== undefined;
    } catch {
        return false;
    }
}

/**
 * Whether a resource installs Envoy's clusters: by its check, or by its content, so that a file that
 * holds them cannot slip past by leaving the check out.
 */
export function isEnvoyBootstrapFile(r: ResourceView): boolean {
    if (!isInstalledFile(r)) return false;
    const content = textInput(r, "content");
    return r.props.check === "envoy" || (typeof content === "string" && isEnvoyBootstrap(content));
}

export interface EnvoyEndpoint {
    address: string;
    port: number;
}

/** The endpoints of one cluster of an Envoy config (static `load_assignment`), or undefined if absent. */
export function envoyClusterEndpoints(config: unknown, cluster: string): EnvoyEndpoint[] | undefined {
    const clusters = clustersOf(config);
    if (!clusters) return undefined;
    const found = clusters.find((c) => (c as { name?: unknown } | null)?.name === cluster) as
        { load_assignment?: { endpoints?: { lb_endpoints?: { endpoint?: { address?: { socket_address?: { address: unknown; port_value: unknown } } } }[] }[] } } | undefined;
    if (!found) return undefined;
    const endpoints: EnvoyEndpoint[] = [];
    for (const locality of found.load_assignment?.endpoints ?? []) {
        for (const lb of locality?.lb_endpoints ?? []) {
            const socket = lb?.endpoint?.address?.socket_address;
            if (socket) endpoints.push({ address: String(socket.address), port: Number(socket.port_value) });
        }
    }
    return endpoints;
}

/** The `limen_backend` endpoints of a bootstrap, or why there are none to judge. */
function envoyEndpointsOrError(text: string): EnvoyEndpoint[] | string {
    let bootstrap: unknown;
    try {
        bootstrap = parseYaml(text);
    } catch (error) {
        return `the Envoy config does not parse as YAML (${(error as Error).message.split("\n")[0]})`;
    }
    const endpoints = envoyClusterEndpoints(bootstrap, envoyClusterNames.backend);
    if (endpoints === undefined) return `the Envoy config has no cluster ${envoyClusterNames.backend}`;
    if (endpoints.length === 0) return `the Envoy cluster ${envoyClusterNames.backend} has no endpoint in load_assignment`;
    return endpoints;
}

/** The endpoints of Envoy's `limen_backend` cluster are not loopback, in any spelling (seed: Envoy dials the backend's internal address). */
export function envoyLoopbackFindings(r: ResourceView): Finding[] {
    if (!isEnvoyBootstrapFile(r)) return [];
    const content = textInput(r, "content");
    if (content instanceof Unknown) {
        return [skipped(r.urn, `${describe(r)}: the Envoy config is unknown during preview and was not checked for loopback addresses (the config schema refuses them)`)];
    }
    if (content === undefined) return [];
    const endpoints = envoyEndpointsOrError(content);
    if (typeof endpoints === "string") return [violation(r.urn, `${describe(r)}: ${endpoints}`)];
    const findings: Finding[] = [];
    for (const endpoint of endpoints) {
        const reason = loopbackReason(endpoint.address);
        if (reason)
            findings.push(
                violation(
                    r.urn,
                    `${describe(r)}: Envoy cluster ${envoyClusterNames.backend} endpoint ${endpoint.address} ${reason} (seed: Envoy dials the backend's internal address)`,
                ),
            );
    }
    return findings;
}

/**
 * Envoy's backend cluster uses the internal address and port: the `limen_backend` endpoints equal
 * BACKEND_HOST and BACKEND_PORT of the `.env.production` on the same host (seed: middleware and Envoy
 * both use the backend's internal address and port 18443). With Envoy switched off there is nothing to compare.
 */
export function envoyBackendFindings(resources: ResourceView[]): Finding[] {
    const envFiles = resources.filter(isEnvFile);
    const findings: Finding[] = [];
    for (const envoy of resources.filter(isEnvoyBootstrapFile)) {
        const host = connectionAddress(envoy);
        const beside = envFiles.filter((r) => {
            const other = connectionAddress(r);
            return typeof host !== "string" || typeof other !== "string" || sameAddress(other) === sameAddress(host);
        });
        const content = textInput(envoy, "content");
        if (content instanceof Unknown || beside.some((r) => r.props.content instanceof Unknown)) {
            findings.push(
                skipped(
                    envoy.urn,
                    `${describe(envoy)}: the Envoy config or ${envFileName} is unknown during preview; the backend cluster was not compared (the config schema derives both from one value)`,
                ),
            );
            continue;
        }
        if (content === undefined) {
            findings.push(violation(envoy.urn, `${describe(envoy)}: installs an Envoy config with no content to check`));
            continue;
        }
        if (beside.length === 0) {
            findings.push(violation(envoy.urn, `${describe(envoy)}: no ${envFileName} on the same host to compare the ${envoyClusterNames.backend} cluster with`));
            continue;
        }
        const endpoints = envoyEndpointsOrError(content);
        if (typeof endpoints === "string") {
            findings.push(violation(envoy.urn, `${describe(envoy)}: ${endpoints}`));
            continue;
        }
        for (const envFile of beside) {
            const env = parseEnv(typeof envFile.props.content === "string" ? envFile.props.content : "");
            const backendHost = env.get("BACKEND_HOST");
            const backendPort = env.get("BACKEND_PORT");
            if (backendHost === undefined || backendPort === undefined || !/^\d+$/.test(backendPort)) {
                findings.push(violation(envFile.urn, `${describe(envFile)}: ${envFileName} must set BACKEND_HOST and a numeric BACKEND_PORT`));
                continue;
            }
            for (const endpoint of endpoints) {
                if (sameAddress(endpoint.address) !== sameAddress(backendHost) || endpoint.port !== Number(backendPort)) {
                    findings.push(
                        violation(
                            envoy.urn,
                            `${describe(envoy)}: Envoy cluster ${envoyClusterNames.backend} dials ${endpoint.address}:${endpoint.port}, but ${envFileName} has BACKEND_HOST=${backendHost} BACKEND_PORT=${backendPort}; both must be the backend's internal address and port (seed: "Envoy and the middleware use the internal port")`,
                        ),
                    );
                }
            }
        }
    }
    return findings;
}
