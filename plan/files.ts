/**
 * The files the stack installs on a host, in install order, each with its path, mode, owner, content
 * and the check its new content passes on the host before it replaces the old: on the frontend the
 * pm2 ecosystem, .env.production, the rotation of pm2's logs, certbot's renewal hook, the TLS pair or the SDS files, and Envoy's
 * bootstrap. The backend has none.
 */
import * as path from "node:path";
import type { LimenConfig } from "../config";
import { EnvFileSpec, renderEnvFile } from "../render/env-file";
import { renderRenewalHook } from "../render/acme-hook";
import { renderSdsSecret } from "../render/envoy";
import { renderEcosystem } from "../render/pm2";
import { BackendPreflight, backendPreflight } from "./backend-api";
import { CertificatePlan } from "./certificates";
import type { EnvoyPlan } from "./envoy";
import { renderLogRotationConfig, renderLogRotationService, renderLogRotationTimer } from "../render/logrotate";
import { acmePaths, envFileName, hostToolPath, logRotationPaths } from "../core/host-paths";
import { logRotationFiles, logRotationSpec, pm2Spec } from "./pm2";

/** How a file's new content is judged on the host before it replaces the installed one. */
export type FileCheck = "none" | "nft" | "ecosystem" | "envoy";

export interface FilePlan {
    /** Frozen resource name suffix, e.g. `env-production`. */
    name: string;
    path: string;
    /** Octal mode, four digits (`0600`). */
    mode: string;
    /** `user:group`. */
    owner: string;
    check: FileCheck;
    /** Arguments of the check (envoy: the image and the certificate mounts). */
    checkArgs: string[];
    content: string;
    /** The content must stay a Pulumi secret: never in a log, a diff or plain state. */
    secret: boolean;
    /** Checked on the frontend before the file changes (the files that point the apps at the backend). */
    preflight?: BackendPreflight;
}

export function envFileSpec(config: LimenConfig): EnvFileSpec {
    return {
        backendHost: config.backend.internalAddress,
        backendPort: config.backend.apiPort,
        agentHost: config.backend.agentAddress,
        agentPort: config.backend.agentPort,
        extra: { ...config.apps.extraEnv, ...config.envProductionSecrets },
    };
}

/** The frontend's files, in the order they are installed. */
export function frontendFiles(config: LimenConfig, envoy: EnvoyPlan | undefined, certificates: CertificatePlan[]): FilePlan[] {
    const appUser = `${config.apps.user}:${config.apps.user}`;
    const preflight = backendPreflight(config);
    const files: FilePlan[] = [
        {
            name: "ecosystem",
            path: config.apps.ecosystemPath,
            mode: "0644",
            owner: "root:root",
            check: "ecosystem",
            checkArgs: [],
            content: renderEcosystem(pm2Spec(config)),
            secret: false,
            ...(preflight ? { preflight } : {}),
        },
        {
            // 0600 and owned by the app user: the file may hold secrets and nobody else needs to read it.
            name: "env-production",
            path: path.posix.join(config.apps.limenFrontend.cwd, envFileName),
            mode: "0600",
            owner: appUser,
            check: "none",
            checkArgs: [],
            content: renderEnvFile(envFileSpec(config)),
            secret: Object.keys(config.envProductionSecrets).length > 0,
            ...(preflight ? { preflight } : {}),
        },
        // The rotation of pm2's logs: read by logrotate and systemd, written by root only.
        ...(
            [
                [logRotationFiles[0], logRotationPaths.config, renderLogRotationConfig],
                [logRotationFiles[1], logRotationPaths.servicePath, renderLogRotationService],
                [logRotationFiles[2], logRotationPaths.timerPath, renderLogRotationTimer],
            ] as const
        ).map(([name, filePath, render]) => ({
            name,
            path: filePath,
            mode: "0644",
            owner: "root:root",
            check: "none" as const,
            checkArgs: [],
            content: render(logRotationSpec(config)),
            secret: false,
        })),
    ];
    const issued = certificates.filter((certificate) => certificate.acme);
    if (issued.length > 0) {
        files.push({
            name: "acme-renewal-hook",
            path: acmePaths.renewalHook,
            mode: "0755",
            owner: "root:root",
            check: "none",
            checkArgs: [],
            content: renderRenewalHook({
                hostTool: hostToolPath,
                certificates: issued.map((certificate) => ({ lineageDir: certificate.acme!.lineageDir, publishDir: certificate.acme!.publishDir, domains: certificate.domains })),
            }),
            secret: false,
        });
    }
    if (envoy) {
        if (config.tls.source === "config") {
            const [pair] = certificates;
            files.push(
                {
                    name: "tls-certificate",
                    path: pair!.chainPath,
                    mode: "0644",
                    owner: "root:root",
                    check: "none",
                    checkArgs: [],
                    content: config.tls.certificateChain,
                    secret: false,
                },
                { name: "tls-private-key", path: pair!.keyPath, mode: "0600", owner: "root:root", check: "none", checkArgs: [], content: config.tlsPrivateKey ?? "", secret: true },
            );
        }
        for (const certificate of issued) {
            files.push({
                name: `tls-sds-${certificate.name}`,
                path: certificate.sdsPath!,
                mode: "0644",
                owner: "root:root",
                check: "none",
                checkArgs: [],
                content: renderSdsSecret({
                    name: certificate.name,
                    certificateChainPath: certificate.chainPath,
                    privateKeyPath: certificate.keyPath,
                    watchedDirectory: certificate.acme!.publishDir,
                }),
                secret: false,
            });
        }
        // The release judged these (the whole config validated in the image, then run by its candidate)
        // and installed them before these resources write them again; a repair after drift writes
        // what was judged then.
        const released = (name: string, filePath: string, content: string): FilePlan => ({
            name,
            path: filePath,
            mode: "0644",
            owner: "root:root",
            check: "none",
            checkArgs: [],
            content,
            secret: false,
        });
        files.push(
            released("envoy-config", config.envoy.configPath, envoy.bootstrap),
            released("envoy-lds", envoy.dynamic.lds.path, envoy.dynamic.lds.content),
            released("envoy-cds", envoy.dynamic.cds.path, envoy.dynamic.cds.content),
        );
    }
    return files;
}
