/**
 * Every rule that compares keys, in one list. Each names every key it reads, reads them through
 * ConfigView (so it runs whenever those keys are fine on their own, whatever else is broken), and
 * reports each finding under every key it involves. The rules live by what they are about: ports
 * (port-rules.ts), who may reach what (network-rules.ts), the apps and their env file (app-rules.ts),
 * host names and certificates (tls-rules.ts), the files the stack installs (path-rules.ts); their
 * shared shape is rule-types.ts.
 */
import { envEntriesRule, envKeysOnceRule, pm2NamesRule } from "./app-rules";
import { adminNetworksRule, backendNotFrontendRule, deployFromRule, internalClientsRule } from "./network-rules";
import { frontendFilesRule, rootFilesOutsideAppDirsRule } from "./path-rules";
import { backendPortsRule, frontendPortsRule, publicPortRule } from "./port-rules";
import type { CrossKeyRule } from "./rule-types";
import { certificatesCoverDomainsRule, domainsRule, tlsKeyRule } from "./tls-rules";

/** Every cross-key rule, in the order their findings are listed within a key. */
export const crossKeyRules: readonly CrossKeyRule[] = [
    publicPortRule,
    internalClientsRule,
    deployFromRule,
    adminNetworksRule,
    frontendPortsRule,
    backendPortsRule,
    domainsRule,
    tlsKeyRule,
    certificatesCoverDomainsRule,
    envEntriesRule,
    envKeysOnceRule,
    backendNotFrontendRule,
    pm2NamesRule,
    frontendFilesRule,
    rootFilesOutsideAppDirsRule,
];
