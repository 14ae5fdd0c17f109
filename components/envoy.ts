import { mkdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import { EnvoySpec, renderEnvoy } from "../render/envoy";
import { RemoteHost } from "./host";
import { remoteFile, sha256 } from "./remote";

/** Where TLS material from config goes on the frontend (mounted read-only into the container). */
export const envoyTlsDir = "/etc/limen/envoy/tls";

export interface EnvoyProxyArgs {
    /** The frontend host. */
    host: RemoteHost;
    /** SSH user, port, pinned host key and private key for the Docker provider's ssh:// connection. */
    ssh: { user: string; port: number; hostKey: string; privateKey: pulumi.Output<string> };
    /** Envoy image pinned by digest. */
    image: string;
    /** Where the rendered bootstrap lives on the host (default /etc/limen/envoy/envoy.yaml). */
    configPath: string;
    /** Listeners, virtual hosts and clusters; see render/envoy.ts. */
    spec: EnvoySpec;
    /** TLS material from config, when limen:tls.source is "config"; otherwise the files already on the host. */
    tlsFromConfig?: { certificateChain: string; privateKey: pulumi.Output<string> };
    /** Resources on the host that must be in place first, such as the firewall opening 80/443 (default none). */
    after?: pulumi.Resource[];
}

/**
 * The directory to mount for a certificate file. certbot's live/ entries are symlinks into
 * ../../archive/, so the whole /etc/letsencrypt tree must be visible for them to resolve.
 */
export function certificateMount(file: string): string {
    return file.startsWith("/etc/letsencrypt/") ? "/etc/letsencrypt" : path.posix.dirname(file);
}

/**
 * Writes the SSH identity and a known_hosts line with the pinned key for the Docker CLI's ssh://
 * transport, which reads them only from files. The directory is private to this user (0700/0600).
 */
function dockerSshOptions(name: string, host: RemoteHost, privateKey: pulumi.Output<string>, hostKey: string, port: number): pulumi.Output<string[]> {
    return privateKey.apply((key) => {
        const dir = path.join(os.tmpdir(), `limen-docker-ssh-${process.getuid?.() ?? "user"}`, name);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const identity = path.join(dir, "id");
        const knownHosts = path.join(dir, "known_hosts");
        writeFileSync(identity, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
        const hostPattern = port === 22 ? host.address : `[${host.address}]:${port}`;
        writeFileSync(knownHosts, `${hostPattern} ${hostKey}\n`, { mode: 0o600 });
        return ["-i", identity, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`];
    });
}

/**
 * Envoy on the frontend, run by Docker over SSH: the pinned image on the host network with the
 * rendered bootstrap mounted read-only. The new config is checked with `envoy --mode validate` in
 * the same image before it replaces the installed one, and only then is the container replaced.
 */
export class EnvoyProxy extends pulumi.ComponentResource {
    public readonly config: string;
    public readonly container: docker.Container;

    constructor(name: string, args: EnvoyProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:envoy:EnvoyProxy", name, {}, opts);
        this.config = renderEnvoy(args.spec);
        const dependsOn: pulumi.Resource[] = [args.host.ready, ...(args.after ?? [])];
        const tls = args.tlsFromConfig;
        const tlsFiles = tls
            ? [
                  remoteFile(
                      `${name}-tls-certificate`,
                      { connection: args.host.connection, path: args.spec.tls.certificateChainPath, mode: "0644", owner: "root:root", check: "none", content: tls.certificateChain, secret: false },
                      { parent: this, dependsOn },
                  ),
                  remoteFile(
                      `${name}-tls-private-key`,
                      { connection: args.host.connection, path: args.spec.tls.privateKeyPath, mode: "0600", owner: "root:root", check: "none", content: tls.privateKey, secret: true },
                      { parent: this, dependsOn },
                  ),
              ]
            : [];

        const provider = new docker.Provider(
            `${name}-docker`,
            {
                host: `ssh://${args.ssh.user}@${args.host.address}:${args.ssh.port}`,
                sshOpts: dockerSshOptions(name, args.host, args.ssh.privateKey, args.ssh.hostKey, args.ssh.port),
                // A pull request's `pulumi preview` must not need the hosts: the daemon is reached only
                // when a Docker resource is actually read or changed.
                disableDockerDaemonCheck: true,
            },
            { parent: this },
        );
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this, provider, dependsOn });

        const certificateDirs = [...new Set([args.spec.tls.certificateChainPath, args.spec.tls.privateKeyPath].map(certificateMount))];
        const configFile: command.remote.Command = remoteFile(
            `${name}-config`,
            {
                connection: args.host.connection,
                path: args.configPath,
                mode: "0644",
                owner: "root:root",
                check: "envoy",
                checkArgs: ["--envoy-image", args.image, ...certificateDirs.flatMap((dir) => ["--mount", dir])],
                content: this.config,
                secret: false,
            },
            // envoy --mode validate runs the pulled image and loads the certificate files, so they go first.
            { parent: this, dependsOn: [...dependsOn, ...tlsFiles, image] },
        );

        this.container = new docker.Container(
            `${name}-container`,
            {
                name: "limen-envoy",
                image: image.imageId,
                networkMode: "host",
                restart: "unless-stopped",
                command: ["envoy", "-c", "/etc/envoy/envoy.yaml", "--drain-time-s", "20"],
                // Envoy must read root-only private keys; it runs as root inside a container that sees
                // only the read-only config and certificate mounts.
                envs: ["ENVOY_UID=0"],
                mounts: [
                    { type: "bind", source: args.configPath, target: "/etc/envoy/envoy.yaml", readOnly: true },
                    ...certificateDirs.map((dir) => ({ type: "bind", source: dir, target: dir, readOnly: true })),
                ],
                // A changed config replaces the container; the label carries the hash that decides it.
                labels: [{ label: "limen.envoy.config-sha256", value: sha256(this.config) }],
                mustRun: true,
            },
            { parent: this, provider, dependsOn: [configFile], deleteBeforeReplace: true },
        );
        this.registerOutputs({ config: this.config, container: this.container.id });
    }
}
