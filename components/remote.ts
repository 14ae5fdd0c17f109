import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

/** Where the readiness gate installs files/limen-host.sh on every host. */
export const hostToolPath = "/usr/local/libexec/limen/limen-host";

export type Connection = command.types.input.remote.ConnectionArgs;

export function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

/** Single-quotes a word for the remote POSIX shell. */
export function shellWord(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `sudo -n limen-host <subcommand> <args>`: -n fails at once instead of hanging on a password prompt. */
export function hostTool(subcommand: string, ...args: string[]): string {
    return ["sudo", "-n", hostToolPath, subcommand, ...args].map(shellWord).join(" ");
}

export interface InstallFileSpec {
    path: string;
    /** Octal file mode, e.g. "0600". */
    mode: string;
    /** owner:group. */
    owner: string;
    /** Validation run on the temporary copy before it replaces the file. */
    check: "none" | "nft" | "node" | "envoy";
    /** Further arguments of the check (envoy: --envoy-image IMAGE, --mount DIR...). */
    checkArgs?: string[];
}

/** The create/update/delete commands that keep one file on a host (its content travels on stdin). */
export function installFileCommands(spec: InstallFileSpec) {
    const install = hostTool("install-file", "--path", spec.path, "--mode", spec.mode, "--owner", spec.owner, "--check", spec.check, ...(spec.checkArgs ?? []));
    return { create: install, update: install, delete: hostTool("remove-file", "--path", spec.path) };
}

export interface RemoteFileArgs extends InstallFileSpec {
    connection: pulumi.Input<Connection>;
    /** File content; pass a secret Output for secret content and it stays secret end to end. */
    content: pulumi.Input<string>;
    /** Whether the content is secret: output logging is then switched off. */
    secret: boolean;
}

/**
 * One file on a host. The content goes on stdin (never in the command string); a change of content
 * is an update that re-runs the install, and `pulumi destroy` removes the file.
 *
 * No `triggers` here: @pulumi/command marks every Command `replaceOnChanges: ["triggers[*]"]`, and a
 * replacement creates the new resource before deleting the old one, whose delete would then remove
 * the file just installed (https://github.com/pulumi/pulumi-command/issues/855). Triggers belong only
 * on actions without a delete; see `rerunOnChange`.
 */
export function remoteFile(name: string, args: RemoteFileArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    return new command.remote.Command(
        name,
        {
            connection: args.connection,
            ...installFileCommands(args),
            stdin: args.content,
            logging: args.secret ? "none" : "stdoutAndStderr",
        },
        { ...opts, additionalSecretOutputs: args.secret ? ["stdout", "stderr"] : [] },
    );
}

export interface ActionArgs {
    connection: pulumi.Input<Connection>;
    /** The command; it must be safe to run again at any time. */
    command: string;
    /** Content hashes of what the action reads: it runs again exactly when one of them changes. */
    contentHashes: pulumi.Input<string>[];
}

/**
 * A command that runs once and again whenever one of `contentHashes` changes, such as a reload after
 * a file changed. It has no delete, so the replacement a trigger causes is harmless: the new one runs
 * and the old one's removal does nothing on the host.
 */
export function rerunOnChange(name: string, args: ActionArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    return new command.remote.Command(name, { connection: args.connection, create: args.command, triggers: args.contentHashes }, opts);
}
