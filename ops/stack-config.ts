/**
 * A stack's config as the program sees it: `pulumi config --json --show-secrets` through the CLI,
 * checked by the same parseConfig as index.ts, so verify refuses exactly what `pulumi up` refuses.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { LimenConfig, parseConfig } from "../components/config";

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
 * JSON text) and which keys are secret.
 */
export function rawConfigFromCliJson(json: string): { raw: Record<string, string>; secrets: Set<string> } {
    const entries = JSON.parse(json) as Record<string, CliConfigEntry>;
    const raw: Record<string, string> = {};
    const secrets = new Set<string>();
    for (const [key, entry] of Object.entries(entries)) {
        if (entry.secret) secrets.add(key);
        if (typeof entry.value === "string") raw[key] = entry.value;
        else if (entry.objectValue !== undefined) raw[key] = JSON.stringify(entry.objectValue);
        else if (entry.secret) throw new Error(`pulumi config did not show the secret ${key} (it needs --show-secrets and the stack's secrets provider)`);
    }
    return { raw, secrets };
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
        throw new StackConfigError(`pulumi config --stack ${stack} failed: ${reason}`);
    }
    let parsed: ReturnType<typeof rawConfigFromCliJson>;
    try {
        parsed = rawConfigFromCliJson(result.stdout);
    } catch (error) {
        // JSON.parse quotes the text it choked on, which may hold secrets: its message is not shown.
        const reason = error instanceof SyntaxError ? "the output is not JSON" : (error as Error).message;
        throw new StackConfigError(`pulumi config --json --stack ${stack}: ${reason}`);
    }
    return parseConfig(parsed.raw, (key) => parsed.secrets.has(key));
}
