/**
 * A stack's config as the program sees it: `pulumi config --json --show-secrets` through the CLI,
 * checked by the same parseConfig as index.ts, so verify refuses exactly what `pulumi up` refuses.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { LimenConfig, parseConfig } from "../config";

/** Which pulumi CLI to ask, with what environment, from which project directory. */
export interface PulumiCli {
    /** LIMEN_PULUMI_BIN, default `pulumi` from PATH. */
    bin: string;
    env: NodeJS.ProcessEnv;
    /** The project directory (where Pulumi.yaml is). */
    cwd: string;
}

export const projectDir = path.join(__dirname, "..");

export function pulumiCliFromEnv(env: NodeJS.ProcessEnv = process.env): PulumiCli {
    return { bin: env.LIMEN_PULUMI_BIN || "pulumi", env, cwd: projectDir };
}

interface CliConfigEntry {
    value?: string;
    objectValue?: unknown;
    secret?: boolean;
}

/**
 * `pulumi config --json` output → the map Pulumi hands a program (`limen:<key>` → text, objects as
 * JSON text), which keys are secret, and which are stored as text: the CLI adds `objectValue` only
 * for a map or list, so a key set without --path to a JSON text (`pulumi config set limen:ssh
 * '{"port":22}'`) shows as text here, where a program could not tell it from a map.
 */
export function rawConfigFromCliJson(json: string): { raw: Record<string, string>; secrets: Set<string>; storedAsText: Set<string> } {
    const entries = JSON.parse(json) as Record<string, CliConfigEntry>;
    const raw: Record<string, string> = {};
    const secrets = new Set<string>();
    const storedAsText = new Set<string>();
    for (const [key, entry] of Object.entries(entries)) {
        if (entry.secret) secrets.add(key);
        if (typeof entry.value === "string") raw[key] = entry.value;
        else if (entry.objectValue !== undefined) raw[key] = JSON.stringify(entry.objectValue);
        else if (entry.secret) throw new Error(`pulumi config did not show the secret ${key} (it needs --show-secrets and the stack's secrets provider)`);
        if (typeof entry.value === "string" && entry.objectValue === undefined) storedAsText.add(key);
    }
    return { raw, secrets, storedAsText };
}

/**
 * Why the stack's file (Pulumi.<stack>.yaml beside Pulumi.yaml) cannot be read, in words, or
 * undefined when it can (or is not there: the stack's config may live in the backend). Only the
 * place and the kind of the problem are told: a line of the file may hold a secret.
 */
export function stackFileProblem(stack: string, cwd: string): string | undefined {
    const name = stack.split("/").at(-1)!;
    const file = [`Pulumi.${name}.yaml`, `Pulumi.${name}.yml`].map((base) => path.join(cwd, base)).find((candidate) => existsSync(candidate));
    if (!file) return undefined;
    const base = path.basename(file);
    const howToSet = "`pulumi config set [--secret] [--path] 'limen:<key>' <value>` writes valid entries";
    const document = parseDocument(readFileSync(file, "utf8"));
    const error = document.errors[0];
    if (error) {
        const where = error.linePos ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}` : "somewhere";
        // yaml's first line says what is wrong; what follows a colon quotes the file.
        const what = (error.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "").replace(/:\s.*$/, "");
        return `${base} is not valid YAML (${where}: ${what}): fix that line, or take the file back from version control; ${howToSet}`;
    }
    const top = document.toJS() as unknown;
    const isMap = (value: unknown) => typeof value === "object" && value !== null && !Array.isArray(value);
    if (top !== null && top !== undefined && !isMap(top)) return `${base} must be a YAML map with a \`config:\` map of \`limen:<key>: <value>\` entries; ${howToSet}`;
    const config = isMap(top) ? (top as Record<string, unknown>).config : undefined;
    if (config !== undefined && config !== null && !isMap(config)) return `${base}: \`config:\` must be a map of \`limen:<key>: <value>\` entries; ${howToSet}`;
    return undefined;
}

export class StackConfigError extends Error {
    override name = "StackConfigError";
}

/** Reads and checks a stack's config; throws StackConfigError (CLI trouble) or ConfigError (bad config). */
export function readStackConfig(stack: string, cli: PulumiCli): LimenConfig {
    const result = spawnSync(cli.bin, ["config", "--json", "--show-secrets", "--stack", stack], {
        cwd: cli.cwd,
        env: cli.env,
        encoding: "utf8",
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
    });
    if (result.error) {
        const missing = (result.error as NodeJS.ErrnoException).code === "ENOENT";
        throw new StackConfigError(missing ? `the pulumi CLI was not found as "${cli.bin}": install it or set LIMEN_PULUMI_BIN` : `${cli.bin}: ${result.error.message}`);
    }
    if (result.status !== 0) {
        // The CLI's own error (no such stack, not logged in, wrong passphrase); it never prints config values.
        const reason = result.stderr.trim().split("\n").filter(Boolean).at(-1) ?? `exit ${result.status}`;
        // A stack file that is not YAML fails the CLI with a parser's words; say which line and how to fix it.
        const fileProblem = stackFileProblem(stack, cli.cwd);
        throw new StackConfigError(fileProblem ? `${fileProblem} (pulumi config --stack ${stack} said: ${reason})` : `pulumi config --stack ${stack} failed: ${reason}`);
    }
    let parsed: ReturnType<typeof rawConfigFromCliJson>;
    try {
        parsed = rawConfigFromCliJson(result.stdout);
    } catch (error) {
        // JSON.parse quotes the text it choked on, which may hold secrets: its message is not shown.
        const reason = error instanceof SyntaxError ? "the output is not JSON" : (error as Error).message;
        throw new StackConfigError(`pulumi config --json --stack ${stack}: ${reason}`);
    }
    return parseConfig(parsed.raw, (key) => parsed.secrets.has(key), { storedAsText: (key) => parsed.storedAsText.has(key) });
}
