/**
 * Envoy's plan on the frontend: the bootstrap rendered from the config, the certificate directories it
 * mounts, the container Docker runs it in, and the front door's gate after the container is replaced.
 * The bootstrap file and the certificates' files are among the frontend's files (files.ts).
 */
import type { LimenConfig } from "../config";
import { EnvoySpec, renderEnvoy } from "../render/envoy";
import { certificateMount, envoyTls } from "./certificates";
import { acmePaths, envoyGateDir } from "./host-paths";
import { sha256 } from "./sha256";

export interface EnvoyPlan {
    image: string;
    spec: EnvoySpec;
    /** Host directories mounted read-only into the container (config and certificates). */
    certificateMounts: string[];
    /** The rendered bootstrap, and its hash (which the container's label carries). */
    bootstrap: string;
    configSha256: string;
    /** The container Docker runs (the Docker provider in the stack, the same spec in the lab's Ansible peer). */
    container: EnvoyContainerPlan;
    /** The front door's gate after the container is replaced (files/limen-host.sh, envoy-gate). */
    gate: EnvoyGatePlan;
}

/**
 * After Envoy's container is replaced: an https request on the host to 127.0.0.1:`httpsPort` with each
 * of `serverNames` (one per site, as SNI and Host) must get the site's answer within `timeoutSeconds`,
 * or the config that last passed comes back. 30 s: the container's start (the lab's stand-in answers
 * in under a second, Envoy itself in about as much) plus the apps' first answer, with room to spare.
 */
export interface EnvoyGatePlan {
    markerDir: string;
    httpsPort: number;
    serverNames: string[];
    timeoutSeconds: number;
}

/** Envoy's container: on the host network, the bootstrap and the certificate directories mounted read-only. */
export interface EnvoyContainerPlan {
    name: string;
    command: string[];
    envs: string[];
    mounts: { source: string; target: string }[];
    /** The label that carries the bootstrap's hash, so a changed config replaces the container. */
    configLabel: { label: string; value: string };
}

export function envoySpec(config: LimenConfig): EnvoySpec {
    return {
        httpPort: config.envoy.httpPort,
        httpsPort: config.envoy.httpsPort,
        adminPort: config.envoy.adminPort,
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
    const bootstrap = renderEnvoy(spec);
    const configSha256 = sha256(bootstrap);
    return {
        image: config.envoy.image,
        spec,
        certificateMounts,
        bootstrap,
        configSha256,
        container: {
            name: "limen-envoy",
            command: ["envoy", "-c", "/etc/envoy/envoy.yaml", "--drain-time-s", "20"],
            // Envoy must read root-only private keys; it runs as root inside a container that sees
            // only the read-only config and certificate mounts.
            envs: ["ENVOY_UID=0"],
            mounts: [{ source: config.envoy.configPath, target: "/etc/envoy/envoy.yaml" }, ...certificateMounts.map((dir) => ({ source: dir, target: dir }))],
            configLabel: { label: "limen.envoy.config-sha256", value: configSha256 },
        },
        gate: {
            markerDir: envoyGateDir,
            httpsPort: spec.httpsPort,
            serverNames: [spec.limenDomains[0], spec.darcDomains[0]].filter((name): name is string => name !== undefined),
            timeoutSeconds: 30,
        },
    };
}
