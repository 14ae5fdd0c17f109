import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection, hostToolPath, shellWord } from "./remote";

export interface RemoteHostArgs {
    /** Address `pulumi` connects to over SSH. */
    address: string;
    /** SSH port (default 22 in config). */
    port: number;
    /** Non-root user with passwordless sudo. */
    user: string;
    /** Pinned host key line (`ssh-ed25519 AAAA...`); the connection fails on any other key. */
    hostKey: string;
    /** SSH private key, a Pulumi secret. */
    privateKey: pulumi.Output<string>;
    /** SSH dial errors tolerated before giving up (sshd may still be starting after a boot). */
    connectAttempts: number;
    /** Seconds per dial attempt. */
    connectTimeoutSeconds: number;
}

const hostToolScript = readFileSync(path.join(__dirname, "..", "files", "limen-host.sh"), "utf8");

export function hostConnection(args: RemoteHostArgs): pulumi.Output<Connection> {
    return pulumi.secret({
        host: args.address,
        port: args.port,
        user: args.user,
        hostKey: args.hostKey,
        privateKey: args.privateKey,
        dialErrorLimit: args.connectAttempts,
        perDialTimeout: args.connectTimeoutSeconds,
    }) as pulumi.Output<Connection>;
}

/** Installs files/limen-host.sh through a temporary file so a cut connection leaves the old tool. */
export function readinessCommand(): string {
    const tool = shellWord(hostToolPath);
    const dir = shellWord(path.posix.dirname(hostToolPath));
    return `sudo -n sh -c 'mkdir -p ${dir} && cat > ${tool}.new && chmod 0755 ${tool}.new && mv -f ${tool}.new ${tool}' && sudo -n ${tool} check-ready`;
}

/**
 * One host reached over SSH with a pinned host key, and the gate every command on it waits for:
 * SSH answers, sudo works without a password, systemd and nft are there, and the stack's host tool
 * (files/limen-host.sh) is installed.
 */
export class RemoteHost extends pulumi.ComponentResource {
    public readonly connection: pulumi.Output<Connection>;
    public readonly ready: command.remote.Command;
    public readonly address: string;

    constructor(name: string, args: RemoteHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:host:RemoteHost", name, {}, opts);
        this.address = args.address;
        this.connection = hostConnection(args);
        this.ready = new command.remote.Command(
            `${name}-ready`,
            {
                connection: this.connection,
                create: readinessCommand(),
                update: readinessCommand(),
                delete: `sudo -n rm -rf ${shellWord(path.posix.dirname(hostToolPath))}`,
                // A new version of the tool arrives on stdin: an update, never a replacement.
                stdin: hostToolScript,
            },
            { parent: this },
        );
        this.registerOutputs({ connection: this.connection, ready: this.ready.stdout });
    }
}
