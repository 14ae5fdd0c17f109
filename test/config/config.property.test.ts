/**
 * The config boundary, property-tested: thousands of generated mistakes on valid configs
 * (test/support/config-mutations.ts) through the program's own parseConfig. For every config:
 *
 * - refused: some line names a `limen:` key the mistakes touched, every line says its rule in the
 *   stack's words (never zod's), and nothing of a secret's value appears anywhere in the error;
 *   with two or more mistakes, every problem a mistake causes alone is still reported unless another
 *   mistake changed a key that problem reads (every rule runs whatever else is broken);
 * - accepted: the plan renders, and its host files keep the design document's rules
 *   (test/support/host-file-judges.ts); the distinct files are then judged by the real tools: nft -c
 *   in a throwaway network namespace, Next.js's own env loader, and Envoy's own validators
 *   (tools/envoy-check, as test/render/envoy-api.tools.test.ts uses them).
 *
 * The seed and the case count are printed; LIMEN_PROPERTY_SEED=<seed> replays a run, and
 * LIMEN_PROPERTY_RUNS sets the count (at least 2,000 in CI). Each counterexample found became a
 * fixed row in test/support/invalid-configs.ts or in test/config/.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, ConfigProblem, keyName, KeyPath, LimenConfig, parseConfig } from "../../config";
import { planStack, StackPlan } from "../../plan/hosts";
import { Mutation, secretMarker, Structured } from "../support/config-mutation-core";
import { mutation } from "../support/config-mutations";
import { namedKeys, zodWording } from "../support/config-problems";
import { otherRawConfig, prodRawConfig, repoRoot } from "../support/fixtures";
import { judgeHostFiles } from "../support/host-file-judges";

const seed = Number(process.env.LIMEN_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const numRuns = Number(process.env.LIMEN_PROPERTY_RUNS ?? 2000);

/** A valid config as its keys' values, with every secret carrying the marker. */
function structured(raw: Record<string, string>): Structured {
    const secrets: Record<string, string> = {
        "limen:sshPrivateKey": `-----BEGIN OPENSSH PRIVATE KEY-----\n${secretMarker}-deploy-key\n-----END OPENSSH PRIVATE KEY-----\n`,
    };
    if (raw["limen:tlsPrivateKey"]) secrets["limen:tlsPrivateKey"] = `-----BEGIN PRIVATE KEY-----\n${secretMarker}-tls-key\n-----END PRIVATE KEY-----\n`;
    if (raw["limen:envProductionSecrets"]) secrets["limen:envProductionSecrets"] = JSON.stringify({ SESSION_SECRET: `${secretMarker}-session` });
    return Object.fromEntries(
        Object.entries({ ...raw, ...secrets }).map(([key, value]) => [
            key.replace(/^limen:/, ""),
            value.trim().startsWith("{") || value.trim().startsWith("[") ? JSON.parse(value) : value,
        ]),
    );
}

const bases: { name: string; config: Structured }[] = [
    { name: "prod", config: structured(prodRawConfig()) },
    { name: "other", config: structured(otherRawConfig()) },
];

const declaredSecrets = ["sshPrivateKey", "tlsPrivateKey", "envProductionSecrets"];

interface Case {
    base: string;
    mutations: Mutation[];
}

/** The raw map Pulumi would hand the program, and which keys it holds as secret. */
function materialise(base: Structured, mutations: Mutation[]): { raw: Record<string, string>; isSecret: (key: string) => boolean } {
    const config = mutations.reduce((current, m) => m.apply(current, base), base);
    const raw = Object.fromEntries(Object.entries(config).map(([key, value]) => [`limen:${key}`, typeof value === "string" ? value : JSON.stringify(value)]));
    const plain = new Set(mutations.flatMap((m) => m.plainText ?? []));
    const secret = new Set([...declaredSecrets.filter((key) => !plain.has(key)), ...mutations.flatMap((m) => m.secret ?? [])].map((key) => `limen:${key}`));
    return { raw, isSecret: (key) => secret.has(key) };
}

type Outcome = { accepted: LimenConfig } | { refused: ConfigError };

function outcome(base: Structured, mutations: Mutation[]): Outcome {
    const { raw, isSecret } = materialise(base, mutations);
    try {
        return { accepted: parseConfig(raw, isSecret) };
    } catch (error) {
        if (error instanceof ConfigError) return { refused: error };
        throw error;
    }
}

/** Whether two keys are one, or one lies inside the other. */
const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`) || b.startsWith(`${a}.`) || b.startsWith(`${a}[`);

const touchedKeys = (mutations: Mutation[]) => mutations.flatMap((m) => m.touches.map(keyName));

/** Distinct files of accepted configs, for the real tools after the run. */
const distinct = { rulesets: new Set<string>(), envFiles: new Set<string>(), bootstraps: new Set<string>() };
const counts = { refused: 0, accepted: 0, pairsChecked: 0, problemsCarried: 0 };

function collect(plan: StackPlan): void {
    distinct.rulesets.add(plan.frontend.firewall.ruleset);
    distinct.rulesets.add(plan.backend.firewall.ruleset);
    const file = (name: string) => plan.frontend.files.find((f) => f.name === name)?.content;
    distinct.envFiles.add(file("env-production")!);
    // The whole config as one static bootstrap: what the release validates in the image.
    if (plan.frontend.envoy) distinct.bootstraps.add(plan.frontend.envoy.validationBootstrap);
}

const sameFinding = (a: ConfigProblem, b: ConfigProblem) => a.rule === b.rule && a.keys.map(keyName).join() === b.keys.map(keyName).join();

function checkCase({ base, mutations }: Case): void {
    const baseConfig = bases.find((b) => b.name === base)!.config;
    const result = outcome(baseConfig, mutations);
    const report = `${base} + ${mutations.map((m) => m.label).join(" + ")}`;
    if ("refused" in result) {
        counts.refused++;
        const { problems, message, details } = result.refused;
        const touched = touchedKeys(mutations);
        expect(
            problems.some((line) => namedKeys(line).some((named) => touched.some((key) => related(named, key)))),
            `${report}\nnames no touched key (${touched.join(", ")}):\n${problems.join("\n")}`,
        ).toBe(true);
        for (const problem of details) {
            expect(problem.text, `${report}: zod's wording`).not.toMatch(zodWording);
            expect(problem.text.endsWith(`: ${problem.message}`), `${report}: ${problem.text}`).toBe(true);
            expect(problem.message.split(/\s+/).length, `${report}: no rule in words: ${problem.text}`).toBeGreaterThanOrEqual(4);
        }
        expect(message, `${report}: a secret reached the message`).not.toContain(secretMarker);
        expect(message.split("\n").length).toBe(details.length + 1);

        if (mutations.length > 1) {
            // Each problem a mistake causes alone survives the others, unless they changed a key it reads.
            for (const [index, alone] of mutations.entries()) {
                const single = outcome(baseConfig, [alone]);
                if (!("refused" in single)) continue;
                const others = touchedKeys(mutations.filter((_, i) => i !== index));
                for (const problem of single.refused.details) {
                    if (problem.reads.map((read) => keyName(read as KeyPath)).some((read) => others.some((key) => related(read, key)))) continue;
                    counts.problemsCarried++;
                    expect(
                        details.some((d) => sameFinding(d, problem)),
                        `${report}\nlost "${problem.text}" (from ${alone.label} alone) among:\n${problems.join("\n")}`,
                    ).toBe(true);
                }
            }
            counts.pairsChecked++;
        }
        return;
    }
    counts.accepted++;
    const plan = planStack(result.accepted);
    const urls = mutations.flatMap((m) => (m.url ? [m.url] : []));
    expect(judgeHostFiles(result.accepted, plan, urls), report).toEqual([]);
    collect(plan);
}

const scratchDirs: string[] = [];
afterAll(() => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function scratch(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "limen-property-"));
    scratchDirs.push(dir);
    return dir;
}

/** At most `limit` of the items, the same ones for the same seed. */
function sample<T>(items: T[], limit: number): T[] {
    if (items.length <= limit) return items;
    const picked = fc.sample(fc.shuffledSubarray(items, { minLength: limit, maxLength: limit }), { seed, numRuns: 1 })[0]!;
    return picked;
}

describe("the config boundary, on generated mistakes", () => {
    const started = Date.now();

    it(`holds for ${numRuns} generated configs (seed printed; LIMEN_PROPERTY_SEED replays it)`, () => {
        console.log(
            `config boundary property: ${numRuns} generated configs, seed ${seed} (replay: LIMEN_PROPERTY_SEED=${seed} npx vitest run test/config/config.property.test.ts)`,
        );
        const cases = fc
            .constantFrom(...bases)
            .chain((base) => fc.record({ base: fc.constant(base.name), mutations: fc.array(mutation(base.config), { minLength: 1, maxLength: 3 }) }));
        fc.assert(fc.property(cases, checkCase), { seed, numRuns, verbose: 1 });
        console.log(
            `config boundary property: ${counts.refused} refused, ${counts.accepted} accepted; ${counts.pairsChecked} multi-mistake refusals kept ${counts.problemsCarried} single-mistake problems; ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
        expect(numRuns).toBeGreaterThanOrEqual(2000);
        // Both sides were exercised, or the run proved little.
        expect(counts.refused).toBeGreaterThan(numRuns / 4);
        expect(counts.accepted).toBeGreaterThan(numRuns / 20);
    }, 120_000);

    it("the accepted configs' distinct rulesets pass nft -c (in a throwaway network namespace)", () => {
        const rulesets = sample([...distinct.rulesets], 400);
        expect(rulesets.length).toBeGreaterThan(1);
        const dir = scratch();
        rulesets.forEach((ruleset, i) => writeFileSync(path.join(dir, `${i}.nft`), ruleset));
        // One namespace and one shell for all of them: the failing files are listed with nft's complaint.
        const script = `for f in "${dir}"/*.nft; do nft -c -f "$f" 2>"$f.err" >/dev/null || { echo "$f"; cat "$f.err"; }; done`;
        const run = spawnSync("unshare", ["--net", "sh", "-c", script], { encoding: "utf8", timeout: 60_000 });
        expect(run.status).toBe(0);
        expect(run.stdout).toBe("");
        console.log(`config boundary property: nft -c accepted ${rulesets.length} distinct rulesets`);
    }, 90_000);

    it("the accepted configs' distinct .env.production files read back by Next.js's own loader keep the seed's keys", () => {
        const files = sample([...distinct.envFiles], 300);
        const root = scratch();
        const dirs = files.map((text, i) => {
            const dir = path.join(root, String(i));
            execFileSync("mkdir", ["-p", dir]);
            writeFileSync(path.join(dir, ".env.production"), text);
            return dir;
        });
        // One fresh Node process with NODE_ENV=production (as `next start` has) loads them all in turn.
        const script = `
            const { loadEnvConfig } = require("@next/env");
            const out = process.argv.slice(1).map((dir) => loadEnvConfig(dir, false, { info() {}, error(e) { throw e; } }, true).parsedEnv);
            process.stdout.write(JSON.stringify(out));`;
        const loaded = JSON.parse(
            execFileSync(process.execPath, ["-e", script, ...dirs], {
                encoding: "utf8",
                env: { PATH: process.env.PATH, NODE_ENV: "production" },
                cwd: repoRoot,
                maxBuffer: 64 * 1024 * 1024,
            }),
        ) as Record<string, string>[];
        expect(loaded).toHaveLength(files.length);
        for (const [i, env] of loaded.entries()) {
            const written = Object.fromEntries(files[i]!.split("\n").flatMap((line) => (/^[A-Z_][A-Z0-9_]*=/.test(line) ? [[line.slice(0, line.indexOf("=")), true]] : [])));
            expect(Object.keys(env).sort(), files[i]).toEqual(Object.keys(written).sort());
            expect(Object.keys(env).slice(0, 4), files[i]).toEqual(["BACKEND_HOST", "BACKEND_PORT", "AGENT_HOST", "AGENT_PORT"]);
            expect(Object.keys(env).some((key) => key.toUpperCase() === "NEXT_PUBLIC_BACKEND_URL")).toBe(false);
        }
        console.log(`config boundary property: @next/env read back ${files.length} distinct .env.production files`);
    }, 60_000);

    it("the accepted configs' distinct Envoy bootstraps pass Envoy's own validators (tools/envoy-check)", () => {
        // Built from its Go module and cached outside the repository; a no-op once cached.
        const build = spawnSync("bash", [path.join(repoRoot, "tools", "envoy-check", "build.sh")], { encoding: "utf8", timeout: 900_000 });
        expect(build.status, build.stderr).toBe(0);
        const checker = build.stdout.trim().split("\n").at(-1)!;
        const bootstraps = sample([...distinct.bootstraps], 150);
        expect(bootstraps.length).toBeGreaterThan(0);
        for (const text of bootstraps) {
            const run = spawnSync(checker, [], { input: text, encoding: "utf8" });
            expect(`${run.stdout}${run.stderr}`.trim(), text).toBe("ok");
        }
        console.log(`config boundary property: envoy-check accepted ${bootstraps.length} distinct bootstraps`);
    }, 900_000);
});
