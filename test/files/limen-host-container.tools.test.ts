import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { containerHolderProbeCommand } from "../../hostio/observe-container-name";
import { tool } from "../support/host-tool";
import { rootPath } from "../support/root-path";
import { localStep } from "../support/tool-script";

/**
 * The claim on Envoy's container name (the host tool's container-holder / container-claim, tools/limen-host
 * containers.go), run for real through the tests' command line for it (test/support/host-tool.ts) against
 * a stand-in `docker` that answers from a directory of containers and images and records what it is
 * asked to remove; and the provider's read of the name's holder, the same request as its step.
 */
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const labImage = `registry.lab.test:5000/limen-lab/envoy@${digest("a")}`;
const hubImage = `envoyproxy/envoy:v1.38.0@${digest("a")}`;

let state: string;
let bin: string;

/** A `docker` that knows the containers and images under `state`; `state/down` makes the daemon not answer. */
const fakeDocker = (stateDir: string) => `#!/bin/bash
state=${stateDir}
case "$1" in
    ps)
        [ -e "$state/down" ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
        name=\${6#name=^/}; name=\${name%\\$}
        cat "$state/containers/$name/id" 2>/dev/null; exit 0 ;;
    container)
        for dir in "$state"/containers/*; do [ "$(cat "$dir/id")" = "$5" ] && cat "$dir/image"; done; exit 0 ;;
    image)
        cat "$state/images/\${5#sha256:}" 2>/dev/null; exit 0 ;;
    rm)
        echo "rm $3" >> "$state/calls"
        for dir in "$state"/containers/*; do [ "$(cat "$dir/id")" = "$3" ] && rm -rf "$dir"; done; exit 0 ;;
esac
echo "unexpected docker $*" >&2; exit 2
`;

/** A container `name` (id `id`) running image `imageId`, whose image was pulled as `repoDigests`. */
function container(name: string, id: string, imageId: string, repoDigests: string[]): void {
    mkdirSync(path.join(state, "containers", name), { recursive: true });
    writeFileSync(path.join(state, "containers", name, "id"), `${id}\n`);
    writeFileSync(path.join(state, "containers", name, "image"), `${imageId}\n`);
    mkdirSync(path.join(state, "images"), { recursive: true });
    writeFileSync(path.join(state, "images", imageId.replace(/^sha256:/, "")), repoDigests.map((line) => `${line}\n`).join("") + "\n");
}

function hostTool(...args: string[]) {
    const result = spawnSync("bash", [tool, ...args], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${rootPath}` } });
    return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

const removed = () => (existsSync(path.join(state, "calls")) ? readFileSync(path.join(state, "calls"), "utf8").trim().split("\n") : []);

beforeEach(() => {
    const root = mkdtempSync(path.join(tmpdir(), "limen-container-name-"));
    state = path.join(root, "state");
    bin = path.join(root, "bin");
    mkdirSync(state);
    mkdirSync(bin);
    writeFileSync(path.join(bin, "docker"), fakeDocker(state));
    chmodSync(path.join(bin, "docker"), 0o755);
});

describe("limen-host container-holder and container-claim", () => {
    it("a free name: none, and nothing is removed", () => {
        expect(hostTool("container-holder", "--name", "limen-envoy", "--image", labImage)).toMatchObject({ status: 0, stdout: "none" });
        expect(hostTool("container-claim", "--name", "limen-envoy", "--image", labImage)).toMatchObject({ status: 0, stdout: "none" });
        expect(removed()).toEqual([]);
    });

    it.each([
        ["the planned image, from a registry with a port", labImage, [`registry.lab.test:5000/limen-lab/envoy@${digest("a")}`], "planned"],
        ["the planned image, from Docker Hub (listed without docker.io/ and the tag)", hubImage, [`envoyproxy/envoy@${digest("a")}`], "planned"],
        ["an earlier image of the same repository (the Docker provider replaces it)", labImage, [`registry.lab.test:5000/limen-lab/envoy@${digest("b")}`], "stack"],
    ])("the stack's own container stays: %s", (_what, planned, repoDigests, kind) => {
        container("limen-envoy", "c1", digest("1"), repoDigests);
        expect(hostTool("container-holder", "--name", "limen-envoy", "--image", planned).stdout).toBe(`${kind} c1 ${digest("1")}`);
        expect(hostTool("container-claim", "--name", "limen-envoy", "--image", planned)).toMatchObject({ status: 0, stdout: `${kind} c1 ${digest("1")}` });
        expect(removed()).toEqual([]);
    });

    it.each([
        ["an image committed by hand (no repository digest)", []],
        ["another repository's image", [`registry.lab.test:5000/someone/envoy@${digest("a")}`]],
        ["a repository whose name only starts like the planned one", [`registry.lab.test:5000/limen-lab/envoy-debug@${digest("a")}`]],
    ])("a holder that is not the stack's is removed: %s", (_what, repoDigests) => {
        container("limen-envoy", "c2", digest("2"), repoDigests);
        expect(hostTool("container-holder", "--name", "limen-envoy", "--image", labImage).stdout).toBe(`foreign c2 ${digest("2")}`);
        const claim = hostTool("container-claim", "--name", "limen-envoy", "--image", labImage);
        expect(claim).toMatchObject({ status: 0, stdout: `removed container limen-envoy (c2), which ran image ${digest("2")}, not one of registry.lab.test:5000/limen-lab/envoy` });
        expect(removed()).toEqual(["rm c2"]);
    });

    it("only the named container counts: another container of another image is left alone", () => {
        container("envoy-debug", "c3", digest("3"), []);
        expect(hostTool("container-claim", "--name", "limen-envoy", "--image", labImage).stdout).toBe("none");
        expect(removed()).toEqual([]);
    });

    it("a daemon that does not answer is an error, never a free name", () => {
        writeFileSync(path.join(state, "down"), "");
        const claim = hostTool("container-claim", "--name", "limen-envoy", "--image", labImage);
        expect(claim.status).not.toBe(0);
        expect(claim.stderr).toMatch(/docker did not answer: cannot tell what holds container name limen-envoy/);
    });

    it.each([
        ["--name", "-x", /-x: not a container name/],
        ["--name", "a b", /a b: not a container name/],
        ["--image", "envoyproxy/envoy:v1.38.0", /not an image pinned by digest/],
    ])("refuses %s %j", (option, value, message) => {
        const args = { "--name": "limen-envoy", "--image": labImage, [option]: value };
        const result = hostTool("container-claim", ...Object.entries(args).flat());
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(message);
    });
});

describe("the read of the name's holder is the tool's container-holder", () => {
    /** The provider's read (hostio/observe-container-name.ts), as root, with the stand-in docker first on PATH. */
    function probe(image: string) {
        const result = spawnSync("sh", ["-c", localStep(containerHolderProbeCommand("limen-envoy", image))], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${rootPath}` } });
        return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
    }

    it.each([
        ["a free name", () => undefined],
        ["the planned image", () => container("limen-envoy", "c1", digest("1"), [`registry.lab.test:5000/limen-lab/envoy@${digest("a")}`])],
        ["an earlier image of the stack's", () => container("limen-envoy", "c1", digest("1"), [`registry.lab.test:5000/limen-lab/envoy@${digest("b")}`])],
        ["someone else's", () => container("limen-envoy", "c2", digest("2"), [])],
    ])("%s: the probe says what the tool's container-holder says", (_what, place) => {
        place();
        const read = probe(labImage);
        expect(read.status).toBe(0);
        expect(read.stdout).toBe(hostTool("container-holder", "--name", "limen-envoy", "--image", labImage).stdout);
        expect(removed()).toEqual([]);
    });

    it("a daemon that does not answer fails the read, naming it", () => {
        writeFileSync(path.join(state, "down"), "");
        const read = probe(labImage);
        expect(read.status).toBe(1);
        // docker's own words, then the tool's (the read is its container-holder, so it speaks as limen-host).
        expect(read.stderr.trim().split("\n")).toEqual(["Cannot connect to the Docker daemon", "limen-host: docker did not answer: cannot tell what holds container name limen-envoy"]);
    });
});

