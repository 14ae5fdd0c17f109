import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { renderEcosystem, Pm2Spec } from "../render/pm2";
import { EnvFileSpec, renderEnvFile } from "../render/env-file";
import { RemoteHost } from "./host";
import { hostTool, remoteFile, rerunOnChange, sha256 } from "./remote";

export interface FrontendAppsArgs {
    /** The frontend host. */
    host: RemoteHost;
    /** Unix user that owns and runs the apps (default "limen"). */
    user: string;
    /** Where the ecosystem file goes (default /etc/limen/pm2/ecosystem.config.js). */
    ecosystemPath: string;
    /** The two apps and their restart policy. */
    pm2: Pm2Spec;
    /** Directory of the LIMEN Next.js app; .env.production goes there. */
    limenFrontendCwd: string;
    /** .env.production values (seed keys and extras). */
    env: EnvFileSpec;
    /** Extra .env.production keys whose values are secret (default none). */
    secretEnv: pulumi.Output<Record<string, string>> | undefined;
    /** Resources on the host that must be in place first, such as its firewall (default none). */
    after?: pulumi.Resource[];
}

/**
 * The pm2 ecosystem and .env.production on the frontend, then `pm2 startOrReload --update-env` and
 * `pm2 save`, so a change is live at once and after a reboot. The reload runs again exactly when
 * either file's content changes.
 */
export class FrontendApps extends pulumi.ComponentResource {
    public readonly ecosystem: string;
    public readonly envFilePath: string;
    public readonly reload: command.remote.Command;

    constructor(name: string, args: FrontendAppsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:frontend:FrontendApps", name, {}, opts);
        const dependsOn = [args.host.ready, ...(args.after ?? [])];
        const owner = `${args.user}:${args.user}`;

        this.ecosystem = renderEcosystem(args.pm2);
        const ecosystemFile = remoteFile(
            `${name}-ecosystem`,
            { connection: args.host.connection, path: args.ecosystemPath, mode: "0644", owner: "root:root", check: "node", content: this.ecosystem, secret: false },
            { parent: this, dependsOn },
        );

        const hasSecrets = args.secretEnv !== undefined;
        const envText: pulumi.Output<string> = hasSecrets
            ? pulumi.secret(pulumi.output(args.secretEnv!).apply((secret) => renderEnvFile({ ...args.env, extra: { ...args.env.extra, ...secret } })))
            : pulumi.output(renderEnvFile(args.env));
        this.envFilePath = path.posix.join(args.limenFrontendCwd, ".env.production");
        // 0600 and owned by the app user: the file may hold secrets and nobody else needs to read it.
        const envFile = remoteFile(
            `${name}-env-production`,
            { connection: args.host.connection, path: this.envFilePath, mode: "0600", owner, check: "none", content: envText, secret: hasSecrets },
            { parent: this, dependsOn },
        );

        const appNames = args.pm2.apps.map((app) => app.name).join(",");
        // The apps' lifecycle: pm2's boot unit for the user, and on destroy exactly these apps removed.
        const service = new command.remote.Command(
            `${name}-pm2-service`,
            {
                connection: args.host.connection,
                create: hostTool("pm2-enable", "--user", args.user),
                update: hostTool("pm2-enable", "--user", args.user),
                delete: hostTool("pm2-remove", "--user", args.user, "--apps", appNames),
            },
            { parent: this, dependsOn },
        );
        // The reload runs again exactly when the ecosystem or .env.production changes.
        this.reload = rerunOnChange(
            `${name}-pm2-reload`,
            {
                connection: args.host.connection,
                command: hostTool("pm2-apply", "--user", args.user, "--ecosystem", args.ecosystemPath, "--apps", appNames),
                contentHashes: [sha256(this.ecosystem), envText.apply(sha256)],
            },
            { parent: this, dependsOn: [service, ecosystemFile, envFile] },
        );
        this.registerOutputs({ ecosystem: this.ecosystem, envFilePath: this.envFilePath, reload: this.reload.stdout });
    }
}
