/**
 * pm2 ecosystem file for the frontend's two apps. Both bind to 127.0.0.1 only: Envoy is their
 * single client (seed: Next.js 127.0.0.1:9444, darc.kr 127.0.0.1:9445).
 */
export interface Pm2App {
    name: string;
    cwd: string;
    script: string;
    /** Arguments before the bind flags; `-H <host> -p <port>` are appended. */
    args: string[];
    host: string;
    port: number;
}

export interface Pm2Spec {
    apps: Pm2App[];
    /** Processes per app, in pm2's cluster mode. */
    instances: number;
    restart: { maxRestarts: number; restartDelayMs: number; killTimeoutMs: number };
}

export function ecosystemApps(spec: Pm2Spec) {
    return spec.apps.map((app) => ({
        name: app.name,
        cwd: app.cwd,
        script: app.script,
        args: [...app.args, "-H", app.host, "-p", String(app.port)],
        // Cluster mode makes `pm2 reload` a rolling restart: each new process takes over the port
        // before its predecessor is stopped, so a changed .env.production costs no request.
        exec_mode: "cluster",
        instances: spec.instances,
        listen_timeout: 15000,
        autorestart: true,
        max_restarts: spec.restart.maxRestarts,
        restart_delay: spec.restart.restartDelayMs,
        kill_timeout: spec.restart.killTimeoutMs,
        time: true,
        // HOSTNAME/PORT too, for servers that read the bind address from the environment. The backend's
        // address is deliberately absent: .env.production in cwd is its single source.
        env: { NODE_ENV: "production", HOSTNAME: app.host, PORT: String(app.port) },
    }));
}

export function renderEcosystem(spec: Pm2Spec): string {
    return ["// pm2 ecosystem, rendered by limen-infra; replaced by `pulumi up`.", `module.exports = ${JSON.stringify({ apps: ecosystemApps(spec) }, null, 2)};`, ""].join("\n");
}
