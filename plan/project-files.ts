/**
 * Files of this checkout that the program and the plugin read at run time (the host tool, the Envoy
 * template, package.json). Found from the project root, the nearest directory up with Pulumi.yaml,
 * rather than from each module's own directory: the same module runs from its source file under
 * vitest and ts-node, and from node_modules/.cache/limen-infra/ when launch/bundle.cjs has built it
 * into one file.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";

function findProjectRoot(start: string): string {
    for (let dir = start; ; dir = path.dirname(dir)) {
        if (existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
        if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml in ${start} or any directory above it: the project's files cannot be found`);
    }
}

export const projectRoot = findProjectRoot(__dirname);

/** A path inside the checkout, from its parts relative to the project root. */
export function projectFile(...parts: string[]): string {
    return path.join(projectRoot, ...parts);
}
