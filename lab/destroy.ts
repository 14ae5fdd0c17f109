// Destroys the lab stack (used by lab/down.sh before the machines go).
import { openLabStack } from "./stack";

openLabStack()
    .then((stack) => stack.destroy({ color: "never", onOutput: (line) => process.stdout.write(line) }))
    .then((result) => console.log(`lab stack destroyed: ${JSON.stringify(result.summary.resourceChanges)}`))
    .catch((error: Error) => {
        console.error(`lab stack destroy failed: ${error.message}`);
        process.exit(1);
    });
