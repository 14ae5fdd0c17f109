/**
 * Steps of the host tool (hostio/host-tool-run.ts) as this machine runs them in the tests: root's `sh`
 * with `$LIMEN_TOOL` set to the tests' build of the tool (test/support/host-tool-build.ts), in place of
 * the installed-or-sent prelude that only a host needs.
 */
import type { ToolScript } from "../../hostio/host-tool-run";
import { shellWord } from "../../core/shell";

/** The tests' build of the host tool. */
export function testToolBinary(): string {
    const binary = process.env.LIMEN_HOST_GO_BINARY;
    if (!binary) throw new Error("LIMEN_HOST_GO_BINARY is not set: the tools project's setup (test/support/host-tool-build.ts) builds the tool");
    return binary;
}

/** `sh -c …` of the step with the tests' tool (the caller adds `sudo -n` when the step is root's). */
export function localStep(step: string | ToolScript): string {
    if (typeof step === "string") return step;
    return `sh -c ${shellWord(`LIMEN_TOOL=${shellWord(testToolBinary())}\n${step.script}`)}`;
}

/** A step as text, to compare and to list (a stand-in host matches the commands it is asked by this). */
export function stepText(step: string | ToolScript): string {
    return typeof step === "string" ? step : `limen-host step: ${step.script}`;
}
