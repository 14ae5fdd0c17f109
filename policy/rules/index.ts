/**
 * The design document's rules (shared/seed/network-ports), checked on the resource graph the program
 * registers: pure functions over plain resources, so they test without the policy engine. One module
 * per thing they read:
 * - env-file.ts: `.env.production`, a file resource (HostFile) whose `path` names it: `content` parsed
 *   as Next.js's loader reads it, and `mode`;
 * - envoy.ts: the Envoy bootstrap, a file resource with `check: "envoy"` or whose `content` is one,
 *   read as YAML;
 * - firewall.ts: each host's FirewallTable `ruleset`, the nft text it loads;
 * - ssh.ts: the `connection` of every resource that acts on a host, and the Docker provider's `sshOpts`;
 * - every-input.ts: every string input of every resource.
 *
 * How resources are recognised: by the plan-derived inputs of the stack's host resources
 * (components/host-resources.ts), not by their names, so a renamed or re-parented resource is still
 * checked and a new one that does the same thing cannot slip past. The frontend is the host (connection
 * address) that `.env.production` or the Envoy bootstrap goes to; every other host a resource acts on is
 * a backend host.
 *
 * Secret and unknown values: the engine hands secrets to policies (the SDK unwraps them), so a secret
 * `.env.production` is read like any other; messages quote only addresses, ports, modes, paths and host
 * keys, never a line of a file. A value that is unknown during preview cannot be judged: it is skipped
 * with a message naming it (the wrappers report it as "not applicable"); `pulumi up` checks the known
 * value again, and the config schema has already checked every value the stack renders.
 */
import type { ResourceView } from "../values";
import { envFileLoopbackFindings } from "./env-file";
import { envoyLoopbackFindings } from "./envoy";
import type { Finding } from "./findings";

export type { Finding } from "./findings";
export { actsOnHost, hostResourceTypes } from "./resources";
export { envFileModeFindings, isEnvFile, parseEnv } from "./env-file";
export { envoyBackendFindings, isEnvoyBootstrapFile } from "./envoy";
export { backendFirewallFindings, parseLimenTable, seedInternalPorts } from "./firewall";
export type { FirewallPolicyConfig } from "./firewall";
export { hostKeyFindings, sshOptions } from "./ssh";
export { forbiddenEnvKeyFindings } from "./every-input";

/**
 * No backend address is loopback, in any spelling: the `.env.production` BACKEND_HOST and AGENT_HOST,
 * and the endpoints of Envoy's `limen_backend` cluster. From the frontend, a loopback address points at
 * the frontend itself (seed: "What matters").
 */
export function loopbackBackendFindings(r: ResourceView): Finding[] {
    return [...envFileLoopbackFindings(r), ...envoyLoopbackFindings(r)];
}
