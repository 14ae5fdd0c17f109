/**
 * Envoy's plan on the frontend: the bootstrap rendered from the config, the certificate directories it
 * mounts, the container Docker runs it in, and the release that brings a new bootstrap or image to the
 * door without dropping a request. The bootstrap file and the certificates' files are among the
 * frontend's files (files.ts).
 *
 * A release (the host tool's envoy-release and envoy-settle: tools/limen-host/envoy.go):
 *  1. the new bootstrap is validated in the pinned image;
 *  2. a candidate container runs it on ports the kernel picks on 127.0.0.1 and the front door's gate
 *     must pass through it (nothing public has changed yet);
 *  3. a standby container runs it on the public ports beside the serving one (SO_REUSEPORT), and the
 *     serving one drains (its listeners close after `drainSeconds`), so the standby alone takes the
 *     new connections;
 *  4. the Docker provider replaces the serving container, which binds the ports beside the standby;
 *  5. it must be ready and the gate must pass; then the standby drains and stops.
 */
import type { LimenConfig } from "../config";
import { EnvoySpec, envoyAdminSocket, envoyDynamicDir, envoyDynamicFiles, renderDiscoveryResponse, renderEnvoy, renderEnvoyBootstrap, renderEnvoyResources } from "../render/envoy";
import { certificateMount, envoyTls } from "./certificates";
import * as path from "node:path";
import { acmePaths, envoyStateDir } from "../core/host-paths";
import { sha256 } from "../core/sha256";

export interface EnvoyPlan {
    image: string;
    spec: EnvoySpec;
    /** Host directories mounted read-only into the container (config and certificates). */
    certificateMounts: string[];
    /**
     * The bootstrap the container runs (render/envoy.ts, renderEnvoyBootstrap: the same for every config),
     * and its hash, which the container's label carries: only a new bootstrap or image replaces the container.
     */
    bootstrap: string;
    configSha256: string;
    /** The listeners and clusters, as the LDS and CDS files Envoy watches; each with its version_info. */
    dynamic: { dir: string; lds: EnvoyDynamicFile; cds: EnvoyDynamicFile };
    /** The sha256 of everything the Docker provider's container is made of: a change replaces it (a handover). */
    containerSha256: string;
    /** The whole config as one static bootstrap: what `envoy --mode validate` judges. */
    validationBootstrap: string;
    /** The same on ports the kernel picks on 127.0.0.1: what the release's candidate runs. */
    candidateBootstrap: string;
    /** The container Docker runs (the Docker provider in the stack, the same spec in the lab's Ansible peer). */
    container: EnvoyContainerPlan;
    /** The release: the candidate's and the new container's gate, the standby's drain. */
    release: EnvoyReleasePlan;
}

/**
 * The front door's gate, run through the candidate and again through the new container: an https
 * request to 127.0.0.1 with each of `serverNames` (one per site, as SNI and Host) must get the site's
 * answer within `timeoutSeconds`. 30 s: a container's start (the lab's stand-in answers in under a
 * second, Envoy itself in about as much) plus the apps' first answer, with room to spare.
 */
export interface EnvoyReleasePlan {
    /** Root-only: each container's admin directory, and the candidate's and standby's config copies. */
    stateDir: string;
    httpsPort: number;
    serverNames: string[];
    timeoutSeconds: number;
    /**
     * Envoy's --drain-time-s: how long a draining Envoy tells its clients to close their connections
     * before its listeners close. Our requests take well under a second; 5 s covers a client that
     * sends one more request on a kept-alive connection.
     */
    drainSeconds: number;
}

/** Envoy's container: on the host network, the bootstrap and the certificate directories mounted read-only. */
export interface EnvoyContainerPlan {
    name: string;
    command: string[];
    envs: string[];
    mounts: { source: string; target: string }[];
    /** Mounted writable: the container's own admin directory (its unix socket). */
    adminMount: { source: string; target: string };
    /** The label that carries the hash of the container's whole spec (containerSha256), so any change of it replaces the container. */
    configLabel: { label: string; value: string };
    /** Docker's json-file driver with its size limits (limen:envoy.logs): the access log stays bounded. */
    logOpts: { "max-size": string; "max-file": string };
}

/** One dynamic resources file on the host, its content and the version_info Envoy reports once applied. */
export interface EnvoyDynamicFile {
    path: string;
    content: string;
    version: string;
    /** The names of its resources (listeners or clusters): the release orders its moves by them. */
    names: string[];
}

/** The directory a container's admin socket is in, on the host (root-only). */
export function envoyAdminDir(containerName: string): string {
    return `${envoyStateDir}/admin/${containerName}`;
}

export function envoySpec(config: LimenConfig): EnvoySpec {
    return {
        httpPort: config.envoy.httpPort,
        httpsPort: config.envoy.httpsPort,
        limenDomains: config.domains.limen,
        darcDomains: config.domains.darc,
        nextjs: { host: config.apps.limenFrontend.host, port: config.apps.limenFrontend.port },
        darc: { host: config.apps.darc.host, port: config.apps.darc.port },
        backend: { address: config.backend.internalAddress, port: config.backend.apiPort },
        backendRoutePrefixes: config.envoy.backendRoutePrefixes,
        tls: envoyTls(config),
        ...(config.tls.source === "acme" ? { acmeChallenge: { address: acmePaths.responderAddress, port: config.tls.responderPort } } : {}),
    };
}

/** Envoy's plan (with limen:envoy.enabled). */
export function envoyPlan(config: LimenConfig): EnvoyPlan {
    const spec = envoySpec(config);
    const certificateMounts =
        spec.tls.mode === "files"
            ? [...new Set([spec.tls.certificateChainPath, spec.tls.privateKeyPath].map(certificateMount))]
            : // The SDS files and the published pairs; certbot's own directory stays out of Envoy's sight.
              [acmePaths.sdsDir, acmePaths.publishDir];
    const bootstrap = renderEnvoyBootstrap();
    const configSha256 = sha256(bootstrap);
    const resources = renderEnvoyResources(spec);
    // Beside the bootstrap, in a directory of their own: Envoy watches it for moves.
    const dynamicDir = path.posix.join(path.posix.dirname(config.envoy.configPath), "dynamic");
    const dynamicFile = (kind: "lds" | "cds", list: Record<string, unknown>[]): EnvoyDynamicFile => {
        const { text, version } = renderDiscoveryResponse(kind, list);
        return { path: path.posix.join(dynamicDir, envoyDynamicFiles[kind]), content: text, version, names: list.map((resource) => String(resource.name)) };
    };
    const drainSeconds = 5;
    const name = "limen-envoy";
    const containerSpec: Omit<EnvoyContainerPlan, "configLabel"> = {
        name,
        // The same command the release's candidate and standby run (the host tool's envoy.go).
        command: ["envoy", "-c", "/etc/envoy/envoy.yaml", "--drain-time-s", String(drainSeconds)],
        // Envoy must read root-only private keys; it runs as root inside a container that sees
        // only the read-only config and certificate mounts.
        envs: ["ENVOY_UID=0"],
        mounts: [
            { source: config.envoy.configPath, target: "/etc/envoy/envoy.yaml" },
            // A directory, not the files: a file moved into it reaches the container, and Envoy reloads it.
            { source: dynamicDir, target: envoyDynamicDir },
            ...certificateMounts.map((dir) => ({ source: dir, target: dir })),
        ],
        adminMount: { source: envoyAdminDir(name), target: path.posix.dirname(envoyAdminSocket) },
        logOpts: { "max-size": `${config.envoy.logs.maxSizeMb}m`, "max-file": String(config.envoy.logs.maxFiles) },
    };
    // The label names all of it, the bootstrap's hash and the image included: the Docker provider
    // replaces a container when a label changes, but applies a new mount or log option to its state
    // alone (the running container keeps the old ones).
    const containerSha256 = sha256(JSON.stringify({ image: config.envoy.image, configSha256, ...containerSpec }));
    const container: EnvoyContainerPlan = { ...containerSpec, configLabel: { label: "limen.envoy.container-sha256", value: containerSha256 } };
    return {
        image: config.envoy.image,
        spec,
        certificateMounts,
        bootstrap,
        configSha256,
        dynamic: { dir: dynamicDir, lds: dynamicFile("lds", resources.listeners), cds: dynamicFile("cds", resources.clusters) },
        validationBootstrap: renderEnvoy(spec),
        candidateBootstrap: renderEnvoy(spec, "candidate"),
        container,
        containerSha256,
        release: {
            stateDir: envoyStateDir,
            httpsPort: spec.httpsPort,
            serverNames: [spec.limenDomains[0], spec.darcDomains[0]].filter((site): site is string => site !== undefined),
            timeoutSeconds: 30,
            drainSeconds,
        },
    };
}
