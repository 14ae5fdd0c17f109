/**
 * What holds the name of Envoy's container, read without the host tool: a read must work on a host
 * whose tool was deleted (a deleted tool is drift that `up --refresh` repairs in one run). The probe
 * runs the tool's own `container_holder` function (files/limen-host.sh), taken from the tool's source
 * as limen-file.ts takes limen-file, so the judgement is written once.
 */
import { readFileSync } from "node:fs";
import { projectFile } from "../core/project-files";
import { shellWord } from "../core/shell";

function holderFunctionIn(toolSource: string): string {
    const match = /^container_holder\(\) \{\n[\s\S]*?\n\}\n/m.exec(toolSource);
    if (!match) throw new Error("files/limen-host.sh has no container_holder function");
    return match[0];
}

/** The tool's container_holder, as the tool carries it. */
const holderFunction = holderFunctionIn(readFileSync(projectFile("files", "limen-host.sh"), "utf8"));

/**
 * `none`, or `planned|stack|foreign ID IMAGE`: what holds container name `name`, judged against the
 * planned image `image` (pinned by digest), as root (Docker's socket is root's).
 */
export function containerHolderProbeCommand(name: string, image: string): string {
    const script = ['die() { echo "limen-probe: $*" >&2; exit 1; }', holderFunction, 'container_holder "$1" "$2"'].join("\n");
    return `sudo -n bash -c ${shellWord(script)} limen-probe ${shellWord(name)} ${shellWord(image)}`;
}
