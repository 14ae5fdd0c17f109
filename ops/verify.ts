/**
 * `npm run verify -- --stack <name> [--json]`: the design document's runbook as read-only checks
 * over SSH against the stack's hosts (see docs in README, "Verify").
 *
 * Exit 0: every check passed; 1: a check failed; 2: nothing was checked (usage, or the stack's config
 * cannot be read or is refused by the same schema `pulumi up` uses).
 */
import { ConfigError, LimenConfig } from "../components/config";
import { CheckResult, runChecks } from "./checks";
import { exitCode, formatJson, formatTable, parseArgs, usage } from "./report";
import { SshClient } from "./ssh";
import { pulumiCliFromEnv, readStackConfig, StackConfigError } from "./stack-config";

function fail(json: boolean, detail: string): number {
    if (json) process.stdout.write(`${formatJson([{ check: "config", ok: false, detail: detail.replace(/\n\s*/g, " ") }])}\n`);
    else process.stderr.write(`limen verify: ${detail}\n`);
    return 2;
}

async function main(argv: string[]): Promise<number> {
    const args = parseArgs(argv);
    if (args.kind === "help") {
        process.stdout.write(`${usage}\n`);
        return 0;
    }
    if (args.kind === "error") {
        process.stderr.write(`limen verify: ${args.message}\n${usage}\n`);
        return 2;
    }

    let config: LimenConfig;
    try {
        config = readStackConfig(args.stack, pulumiCliFromEnv());
    } catch (error) {
        if (error instanceof ConfigError || error instanceof StackConfigError) return fail(args.json, error.message);
        throw error;
    }

    const ssh = new SshClient(
        {
            frontend: { role: "frontend", address: config.frontend.address, port: config.ssh.port, user: config.ssh.user, hostKey: config.frontend.hostKey },
            backend: { role: "backend", address: config.backend.address, port: config.ssh.port, user: config.ssh.user, hostKey: config.backend.hostKey },
        },
        config.sshPrivateKey,
        config.ssh.connectTimeoutSeconds,
    );
    const interrupted = (code: number) => () => {
        ssh.dispose();
        process.exit(code);
    };
    process.once("SIGINT", interrupted(130));
    process.once("SIGTERM", interrupted(143));

    const results: CheckResult[] = [];
    try {
        for (const result of runChecks(config, ssh)) {
            results.push(result);
            // Lets a pending SIGINT/SIGTERM run its handler (the SSH commands themselves are synchronous).
            await new Promise((resolve) => setImmediate(resolve));
        }
    } finally {
        ssh.dispose();
    }
    process.stdout.write(`${args.json ? formatJson(results) : formatTable(args.stack, results)}\n`);
    return exitCode(results);
}

main(process.argv.slice(2)).then(
    (code) => {
        process.exitCode = code;
    },
    (error: Error) => {
        process.stderr.write(`limen verify: ${error.stack ?? error.message}\n`);
        process.exitCode = 2;
    },
);
