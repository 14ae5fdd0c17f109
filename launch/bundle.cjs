// @ts-check
/**
 * Runs one of the project's TypeScript entry points (the Pulumi program, the provider plugin) as a
 * single CommonJS file that esbuild builds from the sources and keeps in node_modules/.cache/limen-infra/<checkout>/.
 *
 * Why: every `pulumi up` / `preview` starts the program, and the engine starts the provider plugin
 * once or twice per operation. Through tsx the plugin started in 0.43 s, as one file in about 0.2 s;
 * through ts-node with SWC (what the language host ran before) the program started in 1.60 s, as one
 * file in 1.46 s, and in 0.94 s once it no longer loaded @pulumi/pulumi's index (components/sdk.ts;
 * `npm run bench:start`). Type-checking is CI's `tsc`, as before.
 *
 * The bundle is rebuilt whenever it is not known to be current: the stamp beside it records the
 * SHA-256 of every source file esbuild read (from its metafile), with the esbuild version and the build
 * options, and each start hashes those files again (a few milliseconds). An edit, a checkout of another
 * commit or a new import therefore rebuilds before anything runs; modification times are not trusted.
 * Packages stay external (resolved from the project's node_modules at run time, so the SDK the
 * language host loaded is the one the program registers with). A rebuild writes beside the bundle and
 * renames it into place, so concurrent starts (two plugin instances, two `pulumi` runs) never read a
 * half-written file.
 */
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const projectRoot = path.join(__dirname, "..");
// One directory per checkout: checkouts may share one node_modules (the lab's upgrade test links the
// previous version's tree to this one's), and each must run its own sources.
const checkoutKey = crypto.createHash("sha256").update(fs.realpathSync(projectRoot)).digest("hex").slice(0, 16);
const defaultCacheDir = path.join(projectRoot, "node_modules", ".cache", "limen-infra", checkoutKey);

/**
 * What root writes into another user's checkout (the README's `sudo env PATH=… npm test` in a normal user's
 * clone) it hands to the checkout's owner, so the user never meets a root-owned file there. The bundles
 * must stay under the checkout's node_modules: they resolve their external packages from where they lie.
 * @param {string[]} paths
 */
function giveToCheckoutOwner(paths) {
    if (process.getuid?.() !== 0) return;
    const owner = fs.statSync(projectRoot);
    if (owner.uid === 0) return;
    for (const file of paths) if (fs.existsSync(file)) fs.lchownSync(file, owner.uid, owner.gid);
}

/**
 * The esbuild options every bundle is built with; part of the stamp, so a change here rebuilds.
 * @type {import("esbuild").BuildOptions}
 */
const buildOptions = {
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    packages: "external",
    // A linked map: the program turns on Node's own source maps before loading its bundle
    // (launch/program.cjs), so stack traces and the resources' source positions name the TypeScript
    // files, and a failing program points at its TypeScript line.
    sourcemap: "linked",
    logLevel: "silent",
};

/**
 * @param {string} root the directory the stamp's paths are relative to
 * @param {string[]} inputs
 * @param {string} esbuildVersion
 */
function digestOf(root, inputs, esbuildVersion) {
    const hash = crypto.createHash("sha256");
    hash.update(`esbuild ${esbuildVersion}\n${JSON.stringify(buildOptions)}\n`);
    for (const input of inputs) {
        hash.update(`${input}\0`);
        hash.update(fs.readFileSync(path.join(root, input)));
        hash.update("\0");
    }
    return hash.digest("hex");
}

/**
 * The stamp's record if the bundle is current, else undefined (no stamp, a source gone or changed).
 * @param {string} root
 * @param {string} bundle
 * @param {string} stampPath
 */
function currentStamp(root, bundle, stampPath) {
    let stamp;
    try {
        stamp = JSON.parse(fs.readFileSync(stampPath, "utf8"));
        if (!fs.existsSync(bundle)) return undefined;
        // The installed esbuild's version, read without loading esbuild: an upgrade rebuilds.
        const installed = require("esbuild/package.json").version;
        return digestOf(root, stamp.inputs, installed) === stamp.digest ? stamp : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Builds `entry` into `bundle` and writes its stamp; throws esbuild's own messages (file, line, text)
 * when the sources do not build.
 * @param {string} root
 * @param {string} entry
 * @param {string} bundle
 * @param {string} stampPath
 */
function build(root, entry, bundle, stampPath) {
    /** @type {typeof import("esbuild")} */
    const esbuild = require("esbuild");
    const madeFrom = fs.mkdirSync(path.dirname(bundle), { recursive: true });
    const partial = `${bundle}.${process.pid}.tmp`;
    try {
        const result = esbuild.buildSync({
            ...buildOptions,
            absWorkingDir: root,
            entryPoints: [entry],
            outfile: partial,
            metafile: true,
            // core/project-files.ts: the checkout the bundle was built from (its own location says
            // nothing: it sits under node_modules, which another checkout may share).
            define: { LIMEN_PROJECT_ROOT: JSON.stringify(root) },
        });
        const inputs = Object.keys(/** @type {import("esbuild").Metafile} */ (result.metafile).inputs).sort();
        const stamp = { entry, esbuild: esbuild.version, inputs, digest: digestOf(root, inputs, esbuild.version) };
        // The map keeps the name it was built for; the bundle's own comment points at it.
        const code = fs.readFileSync(partial, "utf8").replace(`//# sourceMappingURL=${path.basename(partial)}.map`, `//# sourceMappingURL=${path.basename(bundle)}.map`);
        fs.writeFileSync(partial, code);
        fs.renameSync(`${partial}.map`, `${bundle}.map`);
        fs.renameSync(partial, bundle);
        // The stamp last: a crash before this line leaves a bundle that the next start rebuilds.
        fs.writeFileSync(`${stampPath}.${process.pid}.tmp`, JSON.stringify(stamp, null, 2));
        fs.renameSync(`${stampPath}.${process.pid}.tmp`, stampPath);
        // The directories this run made (from the first one mkdir created down) and the three files.
        const made = [];
        if (madeFrom) for (let dir = path.dirname(bundle); dir.startsWith(madeFrom); dir = path.dirname(dir)) made.push(dir);
        giveToCheckoutOwner([...made, bundle, `${bundle}.map`, stampPath]);
        return stamp;
    } catch (error) {
        for (const leftover of [partial, `${partial}.map`, `${stampPath}.${process.pid}.tmp`]) fs.rmSync(leftover, { force: true });
        const failure = /** @type {{ errors?: { text: string, location?: { file: string, line: number, column: number, lineText: string } }[] }} */ (error);
        if (failure.errors?.length) {
            const where = failure.errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text));
            throw new Error(`${entry} does not build:\n  ${where.join("\n  ")}`);
        }
        throw error;
    }
}

/**
 * The path of a current bundle of `entry` (relative to `root`), built first if needed.
 * @param {{ name: string, entry: string, root?: string, cacheDir?: string }} target
 * @returns {{ bundle: string, built: boolean }}
 */
function freshBundle({ name, entry, root = projectRoot, cacheDir = defaultCacheDir }) {
    const bundle = path.join(cacheDir, `${name}.js`);
    const stampPath = path.join(cacheDir, `${name}.stamp.json`);
    const stamp = currentStamp(root, bundle, stampPath);
    if (stamp && stamp.entry === entry) return { bundle, built: false };
    build(root, entry, bundle, stampPath);
    return { bundle, built: true };
}

module.exports = { freshBundle, defaultCacheDir };
