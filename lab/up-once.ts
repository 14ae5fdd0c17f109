// One `pulumi up` of the lab stack in its own process (the concurrency test runs two at once; an
// inline program's runtime is per process). Prints "succeeded" or the error, exits 0 either way.
import { openLabStack } from "./stack";

openLabStack()
    .then((stack) => stack.up({ color: "never" }))
    .then((result) => console.log(result.summary.result))
    .catch((error: Error) => console.log(`failed: ${error.message}`));
