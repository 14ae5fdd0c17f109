// @ts-check
/**
 * The provider plugin's process (started by provider/pulumi-resource-limen): provider/main.ts built
 * into one file by launch/bundle.cjs, rebuilt first when any source changed.
 */
"use strict";
const { freshBundle } = require("./bundle.cjs");

try {
    require(freshBundle({ name: "provider", entry: "provider/main.ts" }).bundle);
} catch (error) {
    // The engine shows a plugin's stderr when it fails to start; esbuild's message says file and line.
    console.error(`pulumi-resource-limen: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
}
