/**
 * Files of this checkout that the program and the plugin read at run time (the host tool, the Envoy
 * template, package.json), found from the project root rather than from each module's own directory:
 * the same module runs from its source file (vitest, tsx) and from a bundle under node_modules/.cache
 * (launch/bundle.cjs), whose location says nothing about the checkout. In a bundle the root is the one
 * launch/bundle.cjs built it from; from the sources, the nearest directory up with Pulumi.yaml.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";

function findProjectRoot(start: string): string {
    for (let dir = start; ; dir = path.dirname(dir)) {
        if (existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
        if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml in ${start} or any directory above it: the project's files cannot be found`);
    }
}

/** Set by launch/bundle.cjs (esbuild's `define`) in a bundle; not defined when running from the sources. */
declare const LIMEN_PROJECT_ROOT: string | undefined;

export const projectRoot = typeof LIMEN_PROJECT_ROOT === "string" ? LIMEN_PROJECT_ROOT : findProjectRoot(__dirname);

/** A path inside the checkout, from its parts relative to the project root. */
export function projectFile(...parts: string[]): string {
    return path.join(projectRoot, ...parts);
}
