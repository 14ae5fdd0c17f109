/**
 * Entry point of the provider plugin (see server.ts); run by provider/pulumi-resource-limen. The
 * engine passes its own address as the first argument, which this plugin does not need.
 */
import { readFileSync } from "node:fs";
import { projectFile } from "../core/project-files";
import { closeAll } from "../hostio/ssh";
import { serve } from "./server";

process.on("unhandledRejection", (error) => console.error(error));

// The engine stops a plugin with SIGINT to its process group and kills it 5 s later: time to close the
// SSH connections, each removing the host tool sent over it, if any (hostio/ssh.ts), before exiting.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
        setTimeout(() => process.exit(0), 4000).unref();
        void closeAll().finally(() => process.exit(0));
    });
}
const { version } = JSON.parse(readFileSync(projectFile("package.json"), "utf8")) as { version: string };
serve(version).catch((error: Error) => {
    console.error(`limen provider: ${error.message}`);
    process.exit(1);
});
