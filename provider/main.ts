/**
 * Entry point of the provider plugin (see server.ts); run by provider/pulumi-resource-limen. The
 * engine passes its own address as the first argument, which this plugin does not need.
 */
import { readFileSync } from "node:fs";
import { projectFile } from "../core/project-files";
import { serve } from "./server";

process.on("unhandledRejection", (error) => console.error(error));
const { version } = JSON.parse(readFileSync(projectFile("package.json"), "utf8")) as { version: string };
serve(version).catch((error: Error) => {
    console.error(`limen provider: ${error.message}`);
    process.exit(1);
});
