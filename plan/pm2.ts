/**
 * The pm2 apps' plan on the frontend: the apps with where each must listen, the files whose content
 * they must have loaded (a change reloads them), and the health gate after a reload. The ecosystem
 * file itself is one of the frontend's files (files.ts).
 */
import type { LimenConfig } from "../config";
import { Pm2Spec } from "../render/pm2";
import type { LogRotationSpec } from "../render/logrotate";
import { logRotationPaths } from "../core/host-paths";
import { hostForUrl } from "../core/addresses";

export interface Pm2AppPlan {
    name: string;
    /** The address and port the app must listen on, and nothing else. */
    host: string;
    port: number;
    instances: number;
}

export interface Pm2Plan {
    user: string;
    ecosystemPath: string;
    apps: Pm2AppPlan[];
    /** Names of the files whose content the running apps must have loaded: a change reloads them. */
    loadedFiles: string[];
    /** Their paths on the host. */
    loadedPaths: string[];
    /** The health gate after a reload (the host tool's pm2-apply); absent when switched off. */
    gate?: AppsGatePlan;
    /** The rotation of pm2's logs: its files (by name) and the timer that runs it. */
    logRotation: LogRotationPlan;
}

export interface LogRotationPlan {
    /** Names of the frontend's files that make it up: logrotate's config, the service and the timer. */
    files: readonly string[];
    /** The timer pm2-enable enables and starts (a fact of the apps: enabled and active). */
    timer: string;
    /** The app user's home, as the plan has it; pm2-enable checks it against the host's. */
    home: string;
}

/** The app user's home: limen:apps.home, else /home/<user>. */
export function appsHome(config: LimenConfig): string {
    return config.apps.home ?? `/home/${config.apps.user}`;
}

/** The spec of the rotation of pm2's logs (render/logrotate.ts). */
export function logRotationSpec(config: LimenConfig): LogRotationSpec {
    return { user: config.apps.user, home: appsHome(config), ...config.apps.logs, configPath: logRotationPaths.config };
}

/** The frontend's files that make up the rotation (plan/files.ts): logrotate's config, the service, the timer. */
export const logRotationFiles = ["pm2-logrotate-config", "pm2-logrotate-service", "pm2-logrotate-timer"] as const;

/**
 * What the frontend checks after it reloaded the apps, each within `timeoutSeconds`: the design's
 * session check through the middleware (POST `sessionUrl` gives Set-Cookie, GET with it says
 * `{"valid":true}`) and the darc.kr site's page (`pageUrl` answers 200).
 */
export interface AppsGatePlan {
    timeoutSeconds: number;
    sessionUrl: string;
    pageUrl: string;
}

function appsGate(config: LimenConfig): AppsGatePlan | undefined {
    if (!config.apps.healthGate.enabled) return undefined;
    const origin = (app: { host: string; port: number }) => `http://${hostForUrl(app.host)}:${app.port}`;
    return {
        timeoutSeconds: config.apps.healthGate.timeoutSeconds,
        sessionUrl: `${origin(config.apps.limenFrontend)}/api/auth/session`,
        pageUrl: `${origin(config.apps.darc)}/`,
    };
}

export function pm2Spec(config: LimenConfig): Pm2Spec {
    return { apps: [config.apps.limenFrontend, config.apps.darc], instances: config.apps.instances, restart: config.apps.restart };
}

/** The apps on the frontend; `files` are the frontend's files, some of which the apps load. */
export function pm2Plan(config: LimenConfig, files: { name: string; path: string }[]): Pm2Plan {
    const loadedFiles = ["ecosystem", "env-production"];
    return {
        user: config.apps.user,
        ecosystemPath: config.apps.ecosystemPath,
        apps: [config.apps.limenFrontend, config.apps.darc].map((app) => ({ name: app.name, host: app.host, port: app.port, instances: config.apps.instances })),
        loadedFiles,
        loadedPaths: files.filter((file) => loadedFiles.includes(file.name)).map((file) => file.path),
        ...(appsGate(config) ? { gate: appsGate(config) } : {}),
        logRotation: { files: logRotationFiles, timer: logRotationPaths.timerName, home: appsHome(config) },
    };
}
