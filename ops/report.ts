/** The command line of `npm run verify` and what it prints. */
import { CheckResult } from "./result";

export const usage = "usage: npm run verify -- --stack <name> [--json]";

export type ParsedArgs = { kind: "run"; stack: string; json: boolean } | { kind: "help" } | { kind: "error"; message: string };

export function parseArgs(argv: string[]): ParsedArgs {
    let stack: string | undefined;
    let json = false;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        if (arg === "--help" || arg === "-h") return { kind: "help" };
        if (arg === "--json") json = true;
        else if (arg === "--stack" || arg === "-s" || arg.startsWith("--stack=")) {
            const value = arg.startsWith("--stack=") ? arg.slice("--stack=".length) : argv[++i];
            if (value === undefined || value === "" || value.startsWith("-")) return { kind: "error", message: `${arg.replace(/=.*/, "")} needs a stack name` };
            // Two stacks named is a mistake to point out, not a choice to make for the operator.
            if (stack !== undefined) return { kind: "error", message: `--stack given twice ("${stack}", "${value}")` };
            stack = value;
        } else return { kind: "error", message: `unknown argument "${arg}"` };
    }
    if (!stack) return { kind: "error", message: "--stack <name> is required (verify never guesses which stack's hosts to ask)" };
    // Pulumi's own stack name rule, optionally qualified as org/project/stack.
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/.test(stack)) return { kind: "error", message: `"${stack}" is not a stack name` };
    return { kind: "run", stack, json };
}

/**
 * verify's own flags that npm kept for itself: given before `--` (`npm run verify --json`), npm reads
 * them as its own config and exports them as `npm_config_<name>` instead of passing them on, so the
 * run would silently ignore them (a table where JSON was asked for). Only under `npm run verify`.
 */
export function flagsTakenByNpm(env: NodeJS.ProcessEnv): string[] {
    if (env.npm_lifecycle_event !== "verify") return [];
    return ["stack", "json"].filter((name) => env[`npm_config_${name}`] !== undefined).map((name) => `--${name}`);
}

export function npmFlagsMessage(flags: string[]): string {
    const [options, them] = flags.length > 1 ? ["options", "them"] : ["option", "it"];
    return `npm read ${flags.join(" and ")} as its own ${options} (from before \`--\`, or an npmrc) and did not pass ${them} on: put verify's flags after \`--\`, e.g. \`npm run verify -- --stack prod --json\``;
}

/** 0 when every check passed, 1 when one failed; 2 (usage, config) is decided before any check runs. */
export function exitCode(results: CheckResult[]): number {
    return results.length > 0 && results.every((r) => r.ok) ? 0 : 1;
}

export function formatJson(results: CheckResult[]): string {
    return JSON.stringify(
        results.map(({ check, ok, warning, detail, lines }) => ({ check, ok, ...(warning ? { warning } : {}), detail, ...(lines === undefined ? {} : { lines }) })),
        null,
        2,
    );
}

export function formatTable(stack: string, results: CheckResult[]): string {
    const width = Math.max("CHECK".length, ...results.map((r) => r.check.length));
    const row = (check: string, result: string, detail: string) => `${check.padEnd(width)}  ${result.padEnd(6)}  ${detail}`;
    const out = [
        `limen verify, stack ${stack}`,
        "",
        row("CHECK", "RESULT", "DETAIL"),
        ...results.map((r) => row(r.check, r.ok ? (r.warning ? "WARN" : "PASS") : "FAIL", r.detail)),
    ];
    for (const result of results.filter((r) => r.lines && r.lines.length > 0)) {
        out.push("", `${result.check}:`, ...result.lines!.map((line) => `  ${line}`));
    }
    const failed = results.filter((r) => !r.ok).length;
    const warned = results.filter((r) => r.ok && r.warning).length;
    const warnings = warned > 0 ? `, ${warned} with a warning` : "";
    out.push("", failed === 0 ? `all ${results.length} checks passed${warnings}` : `${failed} of ${results.length} checks failed${warnings}`);
    return out.join("\n");
}
