// Job summary of the scheduled drift check (.github/workflows/drift.yml). Plain ESM with no dependencies,
// so it runs before (and even without) `npm ci`.
//
//   node .github/drift-summary.mjs preview preview.json [pulumi exit code]
//   node .github/drift-summary.mjs verify verify.json [verify exit code]
//
// Appends markdown to $GITHUB_STEP_SUMMARY (stdout when it is unset, for a run by hand). Exit 1 when
// something drifted, a check failed or the file is not what the command writes; 0 otherwise. The exit
// code argument only changes the wording: the workflow step decides what a non-zero code means.
//
// Only names reach the summary (resources, types, property names, check names): a preview carries
// property values, and not every sensitive value is marked secret in the state.
import { appendFileSync, readFileSync } from "node:fs";

const usage = "usage: node .github/drift-summary.mjs preview|verify <file.json> [exit code]";

/** Keeps a value inside one markdown table cell: no row break, no column break, no HTML. */
function cell(value) {
    const text = String(value ?? "")
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/\|/g, "\\|")
        .replace(/\r?\n/g, "<br>")
        .trim();
    return text === "" ? "–" : text;
}

function table(header, rows) {
    return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`)].join("\n");
}

function readJson(file) {
    let text;
    try {
        text = readFileSync(file, "utf8");
    } catch (error) {
        return { error: `\`${file}\` cannot be read (${error.code ?? "error"})` };
    }
    if (text.trim() === "") return { error: `\`${file}\` is empty` };
    try {
        return { value: JSON.parse(text) };
    } catch {
        // Not the parser's message: it quotes the text around the error, which may be a value.
        return { error: `\`${file}\` is not JSON` };
    }
}

function exitNote(tool, exitCode) {
    return exitCode === undefined ? "" : ` (${tool} exited ${exitCode})`;
}

/** `urn:pulumi:<stack>::<project>::<parent$type>::<name>`; a name may itself contain `::`. */
function splitUrn(urn) {
    const parts = String(urn ?? "").split("::");
    if (parts.length < 4) return { type: "", name: String(urn ?? "") };
    return { type: parts[2].split("$").pop(), name: parts.slice(3).join("::") };
}

function changedProperties(step) {
    const reasons = [...(Array.isArray(step.diffReasons) ? step.diffReasons : []), ...(Array.isArray(step.replaceReasons) ? step.replaceReasons : [])];
    const names = reasons.length > 0 ? reasons : Object.keys(step.detailedDiff && typeof step.detailedDiff === "object" ? step.detailedDiff : {});
    return [...new Set(names.map(String))];
}

/**
 * Every step except `same` is drift, but for `refresh`: with --refresh the CLI can list a refresh step
 * for every resource before it knows the outcome, so one counts only when it names a changed
 * property. What the refresh found still shows, as the update, replace or create that follows it.
 */
function isDrift(step) {
    if (step.op === "same") return false;
    if (step.op === "refresh") return changedProperties(step).length > 0;
    return true;
}

const previewTitle = () => `### Drift: \`pulumi preview --refresh\` of prod${process.env.GITHUB_SHA ? ` at ${process.env.GITHUB_SHA.slice(0, 12)}` : ""}`;
const verifyTitle = "### Drift: `npm run verify -- --stack prod`";

/**
 * With --json the engine's errors (a host or the Docker daemon out of reach) land in the file, not on
 * stderr. They go to the job log, which masks the repository's secrets; the summary only counts them.
 */
function logErrors(digest) {
    const errors = (Array.isArray(digest.diagnostics) ? digest.diagnostics : []).filter((d) => d && d.severity === "error");
    for (const d of errors) process.stderr.write(`pulumi error${d.urn ? ` (${splitUrn(d.urn).name})` : ""}: ${String(d.message ?? "").trim()}\n`);
    return errors.length;
}

function summarisePreview(digest, exitCode) {
    const title = previewTitle();
    const isDigest =
        digest !== null &&
        typeof digest === "object" &&
        !Array.isArray(digest) &&
        (Array.isArray(digest.steps) || (digest.changeSummary && typeof digest.changeSummary === "object"));
    if (!isDigest) return { code: 1, markdown: `${title}\n\nThe file is not a \`pulumi preview --json\` result${exitNote("pulumi", exitCode)}: the hosts were not compared.` };

    const errors = logErrors(digest);
    const errorNote = errors > 0 ? ` Pulumi reported ${errors} error${errors === 1 ? "" : "s"}: see the job log.` : "";
    const steps = (Array.isArray(digest.steps) ? digest.steps : []).filter((step) => step && typeof step === "object");
    const drifted = steps.filter(isDrift);
    if (drifted.length > 0) {
        const rows = drifted.map((step) => {
            const urn = splitUrn(step.urn);
            const type = step.newState?.type ?? step.oldState?.type ?? urn.type;
            const properties = changedProperties(step);
            return [urn.name, type, step.op, properties.length > 0 ? properties.join(", ") : ""];
        });
        return {
            code: 1,
            markdown: [
                title,
                "",
                `${drifted.length} resource${drifted.length === 1 ? " differs" : "s differ"} from the stack (a commit on main that is not deployed yet shows here too).${errorNote}`,
                "",
                table(["resource", "type", "op", "changed properties"], rows),
            ].join("\n"),
        };
    }

    // A count without its step would otherwise read as "no drift": fail closed.
    const counted = Object.entries(digest.changeSummary ?? {}).filter(([op, n]) => op !== "same" && op !== "refresh" && typeof n === "number" && n > 0);
    if (counted.length > 0) {
        const ops = counted.map(([op, n]) => `${n} ${op}`).join(", ");
        return {
            code: 1,
            markdown: `${title}

The change summary counts ${cell(ops)} but no step names the resource${exitNote("pulumi", exitCode)}.${errorNote}`,
        };
    }

    // Sames are left out of the steps unless --show-sames; the summary still counts them.
    const same = typeof digest.changeSummary?.same === "number" ? digest.changeSummary.same : steps.filter((step) => step.op === "same").length;
    if ((exitCode !== undefined && exitCode !== 0) || errors > 0) {
        return { code: 0, markdown: `${title}\n\n\`pulumi preview\` failed${exitNote("pulumi", exitCode)} without proposing a change: the hosts were not compared.${errorNote}` };
    }
    return { code: 0, markdown: `${title}\n\nNo drift: ${same} resources match the hosts.` };
}

function summariseVerify(results, exitCode) {
    const title = verifyTitle;
    const valid = Array.isArray(results) && results.every((r) => r && typeof r === "object" && typeof r.check === "string" && typeof r.ok === "boolean");
    if (!valid) return { code: 1, markdown: `${title}\n\nThe file is not a list of \`{check, ok, detail}\`${exitNote("verify", exitCode)}: nothing was checked.` };
    if (results.length === 0) return { code: 1, markdown: `${title}\n\nNothing was checked${exitNote("verify", exitCode)}.` };

    const failed = results.filter((r) => !r.ok);
    // Passed but close to trouble (a certificate with few days left): listed, without failing the job.
    const warned = results.filter((r) => r.ok && r.warning === true);
    const warnings =
        warned.length === 0
            ? []
            : [
                  "",
                  `${warned.length} passed with a warning:`,
                  "",
                  table(
                      ["check", "detail"],
                      warned.map((r) => [r.check, r.detail]),
                  ),
              ];
    if (failed.length === 0) return { code: 0, markdown: [`${title}`, "", `All ${results.length} checks passed.`, ...warnings].join("\n") };
    return {
        code: 1,
        markdown: [
            title,
            "",
            `${failed.length} of ${results.length} checks failed.`,
            "",
            table(
                ["check", "detail"],
                failed.map((r) => [r.check, r.detail]),
            ),
            ...warnings,
        ].join("\n"),
    };
}

function main(argv) {
    const [command, file, exitArg] = argv;
    if ((command !== "preview" && command !== "verify") || !file || argv.length > 3 || (exitArg !== undefined && !/^\d+$/.test(exitArg))) {
        process.stderr.write(`${usage}\n`);
        return 2;
    }
    const exitCode = exitArg === undefined ? undefined : Number(exitArg);
    const parsed = readJson(file);
    let result;
    if (parsed.error !== undefined) {
        const [title, tool] = command === "preview" ? [previewTitle(), "pulumi"] : [verifyTitle, "verify"];
        result = { code: 1, markdown: `${title}\n\n${parsed.error}${exitNote(tool, exitCode)}: the hosts were not compared.` };
    } else result = command === "preview" ? summarisePreview(parsed.value, exitCode) : summariseVerify(parsed.value, exitCode);

    const summaryFile = process.env.GITHUB_STEP_SUMMARY;
    if (summaryFile) appendFileSync(summaryFile, `${result.markdown}\n\n`);
    else process.stdout.write(`${result.markdown}\n`);
    return result.code;
}

process.exitCode = main(process.argv.slice(2));
