import * as pulumi from "./sdk";
import { pm2MarkerDir } from "../core/host-paths";
import { FilePlan } from "../plan/files";
import { Pm2Plan } from "../plan/pm2";
import { sha256 } from "../core/sha256";
import { hostFile } from "./host-file";
import { Pm2Apps } from "./host-resources";
import { RemoteHost } from "./host";

export interface FrontendAppsArgs {
    /** The frontend host. */
    host: RemoteHost;
    /** The pm2 apps from the frontend's plan. */
    pm2: Pm2Plan;
    /** The frontend's files from its plan; those named in `pm2.loadedFiles` and `pm2.logRotation.files` belong to the apps. */
    files: FilePlan[];
    /** Resources on the host that must be in place first, such as its firewall (default none). */
    after?: pulumi.Resource[];
}

/**
 * The pm2 ecosystem and .env.production on the frontend, and the apps that load them: pm2's boot unit
 * for the app user, `pm2 startOrReload --update-env` and `pm2 save` whenever either file changes or the
 * apps are not as planned (deleted, stopped, bound elsewhere); and the rotation of pm2's logs
 * (logrotate's config, its service and the timer pm2-enable enables).
 */
export class FrontendApps extends pulumi.ComponentResource {
    public readonly envFilePath: string;
    public readonly apps: Pm2Apps;

    constructor(name: string, args: FrontendAppsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:frontend:FrontendApps", name, {}, opts);
        const dependsOn = [args.host.ready, ...(args.after ?? [])];
        const loaded = args.files.filter((file) => args.pm2.loadedFiles.includes(file.name));
        const files = loaded.map((file) =>
            hostFile(`${name}-${file.name}`, args.host, file, {
                parent: this,
                dependsOn,
            }),
        );
        // The rotation of pm2's logs: its config and units in place before pm2-enable enables the timer.
        const logRotation = args.files
            .filter((file) => args.pm2.logRotation.files.includes(file.name))
            .map((file) => hostFile(`${name}-${file.name}`, args.host, file, { parent: this, dependsOn }));
        this.envFilePath = loaded.find((file) => file.name === "env-production")?.path ?? "";
        const secret = loaded.some((file) => file.secret);
        const loadedSha256 = sha256(loaded.map((file) => sha256(file.content)).join("\n"));
        // The release's files for the apps' own apply: it installs them and, when a version fails, puts
        // back the ones its previous update recorded (Pulumi's state, secret like the env file).
        const releaseFiles = loaded.map((file) => ({ path: file.path, mode: file.mode, owner: file.owner, check: file.check, content: file.content }));
        this.apps = new Pm2Apps(
            `${name}-pm2`,
            {
                connection: args.host.connection,
                toolPath: args.host.toolPath,
                markerDir: pm2MarkerDir,
                user: args.pm2.user,
                ecosystemPath: args.pm2.ecosystemPath,
                apps: args.pm2.apps,
                loadedSha256: secret ? pulumi.secret(loadedSha256) : loadedSha256,
                loadedPaths: args.pm2.loadedPaths,
                ...(args.pm2.gate ? { gate: args.pm2.gate } : {}),
                home: args.pm2.logRotation.home,
                logRotationTimer: args.pm2.logRotation.timer,
                files: secret ? pulumi.secret(releaseFiles) : releaseFiles,
            },
            {
                parent: this,
                dependsOn: [...dependsOn, ...files, ...logRotation],
                secret,
            },
        );
        this.registerOutputs({ envFilePath: this.envFilePath, apps: this.apps.id });
    }
}
