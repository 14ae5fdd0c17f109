// One `pulumi up` of the lab stack with this version's own lab config (lab/stack.ts's labConfig) for the
// machines in lab/.state/hosts.json. The upgrade test runs it from the previous release's tree, so that
// release converges the hosts exactly as its own lab did. Prints "succeeded" or the error; exits 0 either way.
import { configureLabStack, openLabStack, readLabHosts } from "./stack";

configureLabStack(readLabHosts())
    .then(() => openLabStack())
    .then((stack) => stack.up({ color: "never" }))
    .then((result) => console.log(result.summary.result))
    .catch((error: Error) => console.log(`failed: ${error.message}`));
