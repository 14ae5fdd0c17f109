// @ts-check
/**
 * The Pulumi program as the Node.js language host runs it (package.json "main"; Pulumi.yaml sets
 * `typescript: false`, so the language host loads no ts-node): index.ts built into one file by
 * launch/bundle.cjs, rebuilt first when any source changed. index.ts's exports are the stack's outputs.
 */
"use strict";
const path = require("node:path");
const { freshBundle } = require("./bundle.cjs");

// Stack traces through Node's own source maps instead of source-map-support. The language host's
// harness (@pulumi/pulumi cmd/run) installs source-map-support before it loads the program, and the
// SDK takes a stack trace at every resource and at every promise it makes (about 900 for this stack):
// source-map-support maps each frame of each, the SDK's own files included, for about 0.25 s of CPU
// and 0.17 s of wall time per `pulumi up` / `preview` (npm run bench:start). Node's source maps,
// enabled here before the bundle loads, map the frames of files loaded from now on: the bundle, whose
// map names the TypeScript sources (a failing config check still points at config/load.ts), while
// the SDK's frames keep their JavaScript positions. Only source-map-support's hook is removed: any
// other is left alone.
const sourceMapSupport = path.join("node_modules", "source-map-support", "source-map-support.js");
if (typeof Error.prepareStackTrace === "function" && Object.keys(require.cache).some((file) => file.endsWith(sourceMapSupport))) {
    process.setSourceMapsEnabled(true);
    Reflect.deleteProperty(Error, "prepareStackTrace");
}

module.exports = require(freshBundle({ name: "program", entry: "index.ts" }).bundle);
