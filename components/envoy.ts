import * as pulumi from "./sdk";
import { Container, DockerProvider, RemoteImage } from "./docker-resources";
import { sshAgentMaterial } from "../hostio/ssh-material";
import { EnvoyPlan } from "../plan/envoy";
import { FilePlan } from "../plan/files";
import { hostFile } from "./host-file";
import { ContainerName, EnvoyGate, EnvoyRelease, HostFile } from "./host-resources";
import { RemoteHost } from "./host";

export interface EnvoyProxyArgs {
    /** The frontend host. */
    host: RemoteHost;
    /** SSH user, port, pinned host key and private key for the Docker provider's ssh:// connection. */
    ssh: { user: string; port: number; hostKey: string; privateKey: pulumi.Output<string> };
    /** Image, spec, mounts and config hash from the frontend's plan. */
    plan: EnvoyPlan;
    /** The bootstrap and, with limen:tls.source "config", the certificate and key (from the plan). */
    files: FilePlan[];
    /** Resources on the host that must be in place first, such as the firewall opening 80/443 (default none). */
    after?: pulumi.Resource[];
    /** What the door's gate waits for: the apps it reaches (default none). */
    gateAfter?: pulumi.Resource[];
}

/**
 * Envoy on the frontend, run by Docker over SSH: the pinned image on the host network with the
 * rendered bootstrap mounted read-only. A new bootstrap or image is released without dropping a
 * request (plan/envoy.ts): `EnvoyRelease` validates it, judges it on a candidate and serves it from a
 * standby beside the serving container, which drains; the Docker provider then replaces the
 * container, and `EnvoyGate` checks the new one and retires the standby.
 */
export class EnvoyProxy extends pulumi.ComponentResource {
    public readonly container: Container;
    public readonly release: EnvoyRelease;
    public readonly gate: EnvoyGate;

    constructor(name: string, args: EnvoyProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:envoy:EnvoyProxy", name, {}, opts);
        const dependsOn: pulumi.Resource[] = [args.host.ready, ...(args.after ?? [])];
        // `<name>-tls-certificate`, …, `<name>-config`: the names 1.0.0 deployed; a rename needs an alias.
        // The release's own files: `<name>-config` (the bootstrap), `<name>-lds`, `<name>-cds`.
        const releaseFiles = ["envoy-config", "envoy-lds", "envoy-cds"];
        const resourceName = (file: FilePlan) => `${name}-${file.name.replace(/^envoy-/, "")}`;
        const tlsFiles = args.files.filter((file) => !releaseFiles.includes(file.name)).map((file) => hostFile(resourceName(file), args.host, file, { parent: this, dependsOn }));

        // The Docker CLI's ssh transport takes ssh options only: the key is offered by the stack's own
        // ssh-agent (loaded on each run, with a lifetime; never a file), the host key pinned in a file of
        // its own. Both outlive the program, since refresh, destroy and the deletes of an `up` run the
        // provider without it (hostio/ssh-material.ts).
        const sshOpts = args.ssh.privateKey.apply((key) => {
            const material = sshAgentMaterial(`docker-${name}`, key, [{ address: args.host.address, port: args.ssh.port, hostKey: args.ssh.hostKey }]);
            return [
                "-o",
                `IdentityAgent=${material.agentSocket}`,
                "-i",
                material.publicKey,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                `UserKnownHostsFile=${material.knownHosts}`,
            ];
        });
        const provider = new DockerProvider(
            `${name}-docker`,
            {
                host: `ssh://${args.ssh.user}@${args.host.address}:${args.ssh.port}`,
                sshOpts,
                // A pull request's `pulumi preview` must not need the hosts: the daemon is reached only
                // when a Docker resource is actually read or changed.
                disableDockerDaemonCheck: true,
            },
            { parent: this },
        );
        const image = new RemoteImage(`${name}-image`, { name: args.plan.image, keepLocally: true }, { parent: this, provider, dependsOn });

        const [bootstrap, lds, cds] = releaseFiles.map((fileName) => {
            const file = args.files.find((candidate) => candidate.name === fileName);
            if (!file) throw new Error(`the frontend's plan has Envoy but no ${fileName} file`);
            return file;
        }) as [FilePlan, FilePlan, FilePlan];
        const release = args.plan.release;
        const step = {
            connection: args.host.connection,
            toolPath: args.host.toolPath,
            stateDir: release.stateDir,
            containerName: args.plan.container.name,
            httpsPort: release.httpsPort,
            serverNames: release.serverNames,
            timeoutSeconds: release.timeoutSeconds,
            drainSeconds: release.drainSeconds,
        };
        // Before the bootstrap is installed and the container replaced: the new config must pass on a
        // candidate, and a standby serves it while the Docker provider replaces the container.
        this.release = new EnvoyRelease(
            `${name}-release`,
            {
                ...step,
                configPath: bootstrap.path,
                configSha256: args.plan.configSha256,
                containerSha256: args.plan.containerSha256,
                bootstrap: args.plan.bootstrap,
                validationBootstrap: args.plan.validationBootstrap,
                candidateBootstrap: args.plan.candidateBootstrap,
                dynamicDir: args.plan.dynamic.dir,
                lds: args.plan.dynamic.lds,
                cds: args.plan.dynamic.cds,
                image: args.plan.image,
                mounts: args.plan.certificateMounts,
            },
            // The candidate runs the pulled image on the certificate files, and its gate asks the apps.
            { parent: this, dependsOn: [...dependsOn, ...tlsFiles, image, ...(args.gateAfter ?? [])] },
        );
        // The release installed these (judged first); the resources read them, repair them after
        // drift, and remove them with the stack.
        const [configFile, ldsFile, cdsFile] = [bootstrap, lds, cds].map((file) =>
            hostFile(resourceName(file), args.host, file, { parent: this, dependsOn: [...dependsOn, this.release] }),
        ) as [HostFile, HostFile, HostFile];

        const container = args.plan.container;
        // Before the Docker provider creates the container: its name, freed of a container someone
        // else runs under it (which would make the create fail and keep the front door).
        const containerName = new ContainerName(
            `${name}-container-name`,
            { connection: args.host.connection, toolPath: args.host.toolPath, name: container.name, image: args.plan.image },
            { parent: this, dependsOn: [configFile, ldsFile, cdsFile] },
        );
        this.container = new Container(
            `${name}-container`,
            {
                name: container.name,
                image: image.imageId,
                networkMode: "host",
                restart: "unless-stopped",
                command: container.command,
                envs: container.envs,
                mounts: [
                    ...container.mounts.map((mount) => ({ type: "bind", ...mount, readOnly: true })),
                    // Its admin socket's directory, its own (the release asks it to drain there).
                    { type: "bind", ...container.adminMount, readOnly: false },
                ],
                // A changed config replaces the container; the label carries the hash that decides it.
                labels: [container.configLabel],
                // Bounded: Docker rotates the container's log (Envoy's access log) at max-size, keeping max-file files.
                logDriver: "json-file",
                logOpts: container.logOpts,
                mustRun: true,
            },
            { parent: this, provider, dependsOn: [configFile, ldsFile, cdsFile, containerName], deleteBeforeReplace: true },
        );
        // The new container must be ready and the door answer through it; then the standby goes.
        this.gate = new EnvoyGate(
            `${name}-gate`,
            { ...step, configSha256: args.plan.configSha256, containerId: this.container.id },
            { parent: this, dependsOn: [this.container, ...(args.gateAfter ?? [])] },
        );
        this.registerOutputs({ container: this.container.id });
    }
}
