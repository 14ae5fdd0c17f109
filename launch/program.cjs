// @ts-check
/**
 * The Pulumi program as the Node.js language host runs it (package.json "main"; Pulumi.yaml sets
 * `typescript: false`, so the language host loads no ts-node): index.ts built into one file by
 * launch/bundle.cjs, rebuilt first when any source changed. index.ts's exports are the stack's outputs.
 */
"use strict";
const { freshBundle } = require("./bundle.cjs");

module.exports = require(freshBundle({ name: "program", entry: "index.ts" }).bundle);
