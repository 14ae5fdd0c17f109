/**
 * The host tool the tools tests run (a setup file of the `tools` project): tools/limen-host's binary,
 * built once (tools/limen-host/build.sh, cached by content) and checked against the committed sha256
 * (core/host-tool-release.ts), as the stack checks what it sends to a host. Every process the tests
 * start inherits its path (LIMEN_HOST_GO_BINARY): the command-line helper (test/support/host-tool-cli.sh)
 * and the probes run locally (test/support/tool-script.ts) run it.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { hostToolSha256 } from "../../core/host-tool-release";

if (!process.env.LIMEN_HOST_GO_BINARY) {
    const build = spawnSync("bash", [path.join(__dirname, "..", "..", "tools", "limen-host", "build.sh")], { encoding: "utf8" });
    if (build.error || build.status !== 0) throw new Error(`tools/limen-host/build.sh failed (exit ${build.status}): ${build.error?.message ?? ""}\n${build.stderr}`);
    const binary = build.stdout.trim().split("\n").at(-1) ?? "";
    const sha = createHash("sha256").update(readFileSync(binary)).digest("hex");
    if (sha !== hostToolSha256) {
        throw new Error(
            `tools/limen-host/build.sh built ${sha}, and tools/limen-host/limen-host.sha256 says ${hostToolSha256}: run tools/limen-host/reproducible.sh --record after changing the tool`,
        );
    }
    process.env.LIMEN_HOST_GO_BINARY = binary;
}
