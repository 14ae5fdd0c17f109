/**
 * `npm run verify -- --stack <name> [--json]`: the design document's runbook as read-only checks, and
 * every artifact of both hosts' plans compared with the hosts (see docs/operations.md, "Verify").
 *
 * Exit 0: every check passed; 1: a check failed; 2: nothing was checked (usage, or the stack's config
 * cannot be read or is refused by the same schema `pulumi up` uses).
 *
 * No Pulumi SDK and no provider is loaded (test/ops/verify.tools.test.ts holds it to that): the config comes
 * through the `pulumi` CLI, the plan is pure, and the hosts are read with hostio/.
 */
import { ConfigError, LimenConfig } from "../config";
import { closeAll, runOnHost } from "../hostio/ssh";
import { planStack } from "../plan/hosts";
import { runChecks } from "./checks";
import { PlannedHosts, RunOnHost } from "./remote";
import { exitCode, flagsTakenByNpm, formatJson, formatTable, npmFlagsMessage, parseArgs, usage } from "./report";
import { CheckResult } from "./result";
import { pulumiCliFromEnv, readStackConfig, StackConfigError } from "./stack-config";

function fail(json: boolean, detail: string): number {
    if (json) process.stdout.write(`${formatJson([{ check: "config", ok: false, detail: detail.replace(/\n\s*/g, " ") }])}\n`);
    else process.stderr.write(`limen verify: ${detail}\n`);
    return 2;
}

/** `runOn` is hostio/ssh.ts's runOnHost; tests pass a stand-in host. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, runOn: RunOnHost = runOnHost): Promise<number> {
    const takenByNpm = flagsTakenByNpm(env);
    if (takenByNpm.length > 0) {
        process.stderr.write(`limen verify: ${npmFlagsMessage(takenByNpm)}\n${usage}\n`);
        return 2;
    }
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
        config = readStackConfig(args.stack, pulumiCliFromEnv(env));
    } catch (error) {
        if (error instanceof ConfigError || error instanceof StackConfigError) return fail(args.json, error.message);
        throw error;
    }

    const plan = planStack(config);
    const hosts = new PlannedHosts({ frontend: plan.frontend.ssh, backend: plan.backend.ssh }, config.sshPrivateKey, runOn);
    const results: CheckResult[] = [];
    try {
        for await (const result of runChecks(config, plan, hosts)) results.push(result);
    } finally {
        // The shared connections would otherwise stay open until their idle timers end them.
        await closeAll();
    }
    process.stdout.write(`${args.json ? formatJson(results) : formatTable(args.stack, results)}\n`);
    return exitCode(results);
}

// Run only as the entry point, so that tests can load this module (and its imports) without running it.
if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (error: Error) => {
            process.stderr.write(`limen verify: ${error.stack ?? error.message}\n`);
            process.exitCode = 2;
        },
    );
}
