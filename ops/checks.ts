/**
 * Every check `npm run verify` runs, in order: the runbook's (ops/runbook.ts) on the frontend, then one
 * drift check per artifact of each host's plan (ops/drift.ts), the certificates, and the disks (ops/disks.ts). Loads no Pulumi code: the config schema,
 * the plan and hostio/ are plain TypeScript.
 */
import { LimenConfig } from "../config";
import { StackPlan } from "../plan/hosts";
import { certificateProbe, judgeCertificate } from "./certificates";
import { diskCommand, judgeDisk } from "./disks";
import { driftChecks } from "./drift";
import { Remote } from "./remote";
import { CheckResult } from "./result";
import { curlCommand, healthUrl, judgeAppPorts, judgeHealth, judgeSessionCreate, judgeSessionValid, sessionUrl } from "./runbook";
import { hostClockCommand, judgeProxyLog, proxyLogCommand } from "./proxy-log";

export type { CheckResult };

/** Runs every check; `remote` is the only way they touch a host. Results come as each check ends. */
export async function* runChecks(config: LimenConfig, plan: StackPlan, remote: Remote, now: () => Date = () => new Date()): AsyncGenerator<CheckResult> {
    yield judgeHealth(await remote.run("frontend", curlCommand(healthUrl(config))), config);

    // Read just before the POST: the middleware's lines for verify's own request are stamped after it.
    const clock = await remote.run("frontend", hostClockCommand);
    const created = judgeSessionCreate(await remote.run("frontend", curlCommand(sessionUrl(config), "-i", "-X", "POST")), config);
    if ("check" in created) yield created;
    else {
        const cookie = created.cookies.map((c) => c.pair).join("; ");
        yield judgeSessionValid(created, await remote.run("frontend", curlCommand(sessionUrl(config), "-H", `Cookie: ${cookie}`)), config);
    }
    // Right after the session request, while its lines are still among the last ones pm2 prints.
    yield judgeProxyLog(clock, await remote.run("frontend", proxyLogCommand(config)), config);

    yield judgeAppPorts(await remote.run("frontend", "ss -Hltn"), config);

    for (const host of [plan.frontend, plan.backend]) yield* driftChecks(host, remote);
    // Each served certificate: days left, names, key and chain, and whether renewals run and are served.
    for (const certificate of plan.frontend.certificates) yield judgeCertificate("frontend", certificate, await remote.run("frontend", certificateProbe(certificate)), now());
    // The disks: free space on each host, and what pm2's logs take.
    for (const role of ["frontend", "backend"] as const) yield judgeDisk(config, role, await remote.run(role, diskCommand(config, role)));
}
