/**
 * Which host tool the tools tests run (a setup file of the `tools` project). By default, the one the
 * stack installs: files/limen-host.sh, and its limen-file (Perl) for the read probes. With
 * LIMEN_HOST_TOOL_IMPL=go, the Go port in tools/limen-host, built once (tools/limen-host/build.sh,
 * cached), behind test/support/limen-host-go.sh, which turns each command line into the Go tool's
 * typed request: test/support/host-tool.ts's `tool` is that adapter, and hostio/limen-file's
 * command and program run the Go tool's limen-file commands through it. The tests and their
 * assertions are the same; this is how the port is held to them (tools/limen-host/README.md).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { vi } from "vitest";

if (process.env.LIMEN_HOST_TOOL_IMPL === "go" && !process.env.LIMEN_HOST_GO_BINARY) {
    const build = spawnSync("bash", [path.join(__dirname, "..", "..", "tools", "limen-host", "build.sh")], { encoding: "utf8" });
    if (build.error || build.status !== 0) throw new Error(`tools/limen-host/build.sh failed (exit ${build.status}): ${build.error?.message ?? ""}\n${build.stderr}`);
    // Inherited by every process the tests start, the adapter included.
    process.env.LIMEN_HOST_GO_BINARY = build.stdout.trim().split("\n").at(-1);
}

vi.mock("../../hostio/file-readings", async (importOriginal) => {
    const original = await importOriginal<typeof import("../../hostio/file-readings")>();
    if (process.env.LIMEN_HOST_TOOL_IMPL !== "go") return original;
    const { shellWord } = await import("../../core/shell");
    const adapter = path.join(__dirname, "limen-host-go.sh");
    const binary = process.env.LIMEN_HOST_GO_BINARY ?? "";
    return {
        ...original,
        limenFileCommand: (command: string, ...args: string[]) =>
            ["env", `LIMEN_HOST_GO_BINARY=${binary}`, "/bin/bash", adapter, "--limen-file", command, ...args].map(shellWord).join(" "),
        // For the tests that run the program with `perl -e` themselves: it hands over to the Go tool.
        limenFileProgram: `$ENV{LIMEN_HOST_GO_BINARY} = ${JSON.stringify(binary)}; exec "/bin/bash", ${JSON.stringify(adapter)}, "--limen-file", @ARGV or die "limen-host: $!";`,
    };
});
