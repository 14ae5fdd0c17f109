/**
 * The rules that compare keys. Each names every key it reads, reads them through ConfigView (so it
 * runs whenever those keys are fine on their own, whatever else is broken), and reports each finding
 * under every key it involves: a port used twice names both keys, since only the operator knows which
 * one they meant to change.
 */
import * as path from "node:path";
import { addressFamily, cidrContains } from "../plan/addresses";
import { acmePaths, envFileName, envoyTlsDir, firewallPaths, hostToolPath, sdsFile } from "../plan/host-paths";
import { seedPorts } from "../plan/seed";
import { envEntryProblem } from "./env-values";
import { seedRule } from "./schema";
import { rootFilesOutsideAppDirsRule } from "./path-rules";
import type { CrossKeyRule, RuleFinding } from "./rule-types";
import { certificatesCoverDomainsRule, domainsRule, tlsKeyRule } from "./tls-rules";
import type { KeyPath } from "./view";

export type { CrossKeyRule, RuleFinding } from "./rule-types";

/** Keys that each hold a port on one host; every port value that two of them share is one finding. */
function portClashes(host: "frontend" | "backend", ports: [KeyPath, number | undefined][]): RuleFinding[] {
    const byPort = new Map<number, KeyPath[]>();
    for (const [path, port] of ports) {
        if (port !== undefined) byPort.set(port, [...(byPort.get(port) ?? []), path]);
    }
    return [...byPort.entries()]
        .filter(([, paths]) => paths.length > 1)
        .map(([port, paths]) => ({
            keys: paths,
            message: `${paths.length === 2 ? "both are" : "all are"} port ${port} on the ${host}: two services cannot listen on one port, so give each its own`,
        }));
}

const publicPortRule: CrossKeyRule = {
    name: "public API ports are not internal ones",
    reads: [
        ["backend", "publicApiPorts"],
        ["backend", "apiPort"],
        ["backend", "agentPort"],
    ],
    check(view) {
        const apiPort = view.get<number>(["backend", "apiPort"]);
        const agentPort = view.get<number>(["backend", "agentPort"]);
        return view.elements<number>(["backend", "publicApiPorts"]).flatMap(([index, publicPort]): RuleFinding[] => {
            const path: KeyPath = ["backend", "publicApiPorts", index];
            if (publicPort === apiPort) {
                return [
                    {
                        keys: [["backend", "apiPort"], path],
                        message: seedRule("the API port is also listed as a public port: session traffic must use the internal port, never the external one"),
                    },
                ];
            }
            if (publicPort === seedPorts.backendApi || publicPort === seedPorts.agent || publicPort === agentPort) {
                return [
                    {
                        keys: publicPort === agentPort ? [path, ["backend", "agentPort"]] : [path],
                        message: seedRule(
                            `${publicPort} is an internal port (API ${seedPorts.backendApi}, agent ${seedPorts.agent}${agentPort !== undefined && agentPort !== seedPorts.agent ? `, configured agent ${agentPort}` : ""}): a public API port must be a different port, or internal traffic would be reachable from the internet`,
                        ),
                    },
                ];
            }
            return [];
        });
    },
};

const internalClientsRule: CrossKeyRule = {
    name: "internal ports are open to the frontend only",
    reads: [
        ["backend", "internalClients"],
        ["frontend", "internalAddresses"],
        ["frontend", "address"],
        ["backend", "apiPort"],
        ["backend", "agentPort"],
    ],
    check(view) {
        if (!view.isSet(["backend", "internalClients"])) return [];
        const frontend = view.get<string[]>(["frontend", "internalAddresses"]);
        if (!frontend) return [];
        const apiPort = view.get<number>(["backend", "apiPort"]) ?? "the API port";
        const agentPort = view.get<number>(["backend", "agentPort"]) ?? "the agent port";
        return view
            .elements<string>(["backend", "internalClients"])
            .filter(([, client]) => !frontend.includes(client))
            .map(([index]) => ({
                keys: [["backend", "internalClients", index]],
                message: seedRule(
                    `${apiPort} and ${agentPort} may be opened only to the frontend's addresses (limen:frontend.internalAddresses${view.isSecret("frontend") ? "" : `: ${frontend.join(", ")}`}), and this is not one of them`,
                ),
            }));
    },
};

const deployFromRule: CrossKeyRule = {
    name: "deployments come from an admin network",
    reads: [
        ["ssh", "deployFrom"],
        ["ssh", "adminNetworks"],
    ],
    check(view) {
        const networks = view.elements<string>(["ssh", "adminNetworks"]).map(([, network]) => network);
        // With a broken entry the list is not known whole, and an address outside the rest may be inside it.
        if (networks.length !== (view.get<string[]>(["ssh", "adminNetworks"])?.length ?? -1)) return [];
        return view
            .elements<string>(["ssh", "deployFrom"])
            .filter(([, source]) => !networks.some((network) => cidrContains(network, source)))
            .map(([index]) => ({
                keys: [["ssh", "deployFrom", index]],
                message: `is not inside limen:ssh.adminNetworks${view.isSecret("ssh") ? "" : ` (${networks.join(", ")})`}: the firewall would lock this deployment out of its own hosts`,
            }));
    },
};

/** Whether one network lies inside the other (both canonical CIDRs). */
function overlaps(a: string, b: string): boolean {
    const [aAddress, aPrefix] = a.split("/") as [string, string];
    const [bAddress, bPrefix] = b.split("/") as [string, string];
    if (addressFamily(aAddress) !== addressFamily(bAddress)) return false;
    return Number(aPrefix) <= Number(bPrefix) ? cidrContains(a, bAddress) : cidrContains(b, aAddress);
}

const adminNetworksRule: CrossKeyRule = {
    name: "admin networks do not overlap",
    reads: [["ssh", "adminNetworks"]],
    check(view) {
        const networks = view.elements<string>(["ssh", "adminNetworks"]);
        return networks.flatMap(([i, a], position) =>
            networks
                .slice(position + 1)
                .filter(([, b]) => a !== b && overlaps(a, b))
                .map(([j]) => ({
                    keys: [
                        ["ssh", "adminNetworks", i],
                        ["ssh", "adminNetworks", j],
                    ] as KeyPath[],
                    message: "one network lies inside the other: nft refuses overlapping networks in one set, so list only the larger one",
                })),
        );
    },
};

const frontendPortsRule: CrossKeyRule = {
    name: "one port per service on the frontend",
    reads: [
        ["ssh", "port"],
        ["apps", "limenFrontend", "port"],
        ["apps", "darc", "port"],
        ["envoy", "enabled"],
        ["envoy", "httpPort"],
        ["envoy", "httpsPort"],
        ["envoy", "adminPort"],
        ["tls", "source"],
        ["tls", "responderPort"],
    ],
    check(view) {
        const ports: [KeyPath, number | undefined][] = [
            [["ssh", "port"], view.get(["ssh", "port"])],
            [["apps", "limenFrontend", "port"], view.get(["apps", "limenFrontend", "port"])],
            [["apps", "darc", "port"], view.get(["apps", "darc", "port"])],
            // Guarded by the firewall even with Envoy off: on SSH's port that guard would drop SSH.
            [["envoy", "adminPort"], view.get(["envoy", "adminPort"])],
        ];
        if (view.get<boolean>(["envoy", "enabled"]) === true) {
            ports.push([["envoy", "httpPort"], view.get(["envoy", "httpPort"])], [["envoy", "httpsPort"], view.get(["envoy", "httpsPort"])]);
        }
        // certbot's responder binds its port during every renewal, with or without Envoy.
        if (view.get<string>(["tls", "source"]) === "acme") ports.push([["tls", "responderPort"], view.get(["tls", "responderPort"])]);
        return portClashes("frontend", ports);
    },
};

const backendPortsRule: CrossKeyRule = {
    name: "one port per service on the backend",
    reads: [
        ["ssh", "port"],
        ["backend", "apiPort"],
        ["backend", "agentPort"],
        ["backend", "publicApiPorts"],
    ],
    check(view) {
        const apiPort = view.get<number>(["backend", "apiPort"]);
        const agentPort = view.get<number>(["backend", "agentPort"]);
        return portClashes("backend", [
            [["ssh", "port"], view.get(["ssh", "port"])],
            [["backend", "apiPort"], apiPort],
            [["backend", "agentPort"], agentPort],
            // A public port equal to the API or agent port is publicPortRule's finding, as the seed rule it breaks.
            ...view
                .elements<number>(["backend", "publicApiPorts"])
                .filter(([, port]) => port !== apiPort && port !== agentPort)
                .map(([index, port]): [KeyPath, number] => [["backend", "publicApiPorts", index], port]),
        ]);
    },
};

const envEntriesRule: CrossKeyRule = {
    name: ".env.production entries keep the seed's rules",
    reads: [["apps", "extraEnv"], ["envProductionSecrets"], ["backend", "address"], ["backend", "internalAddress"], ["backend", "agentAddress"], ["backend", "publicApiPorts"]],
    check(view) {
        const backend = {
            address: view.get<string>(["backend", "address"]),
            internalAddress: view.get<string>(["backend", "internalAddress"]),
            agentAddress: view.get<string>(["backend", "agentAddress"]),
            publicApiPorts: view.elements<number>(["backend", "publicApiPorts"]).map(([, port]) => port),
        };
        const maps: KeyPath[] = [["apps", "extraEnv"], ["envProductionSecrets"]];
        return maps.flatMap((map) =>
            view.entries<string>(map).flatMap(([name, value]): RuleFinding[] => {
                const problem = envEntryProblem(name, value, { backend }, view.isSecret(String(map[0])));
                return problem ? [{ keys: [[...map, name]], message: problem }] : [];
            }),
        );
    },
};

const envKeysOnceRule: CrossKeyRule = {
    name: "each .env.production key is set once",
    reads: [["apps", "extraEnv"], ["envProductionSecrets"]],
    check(view) {
        const plain = new Set(view.entries(["apps", "extraEnv"]).map(([name]) => name));
        return view
            .entries(["envProductionSecrets"])
            .filter(([name]) => plain.has(name))
            .map(([name]) => ({
                keys: [
                    ["apps", "extraEnv", name],
                    ["envProductionSecrets", name],
                ],
                message: "the same .env.production key is set as a plain and as a secret value: keep one",
            }));
    },
};

const backendNotFrontendRule: CrossKeyRule = {
    name: "the backend is not the frontend",
    reads: [
        ["frontend", "address"],
        ["frontend", "internalAddresses"],
        ["backend", "address"],
        ["backend", "internalAddress"],
        ["backend", "agentAddress"],
    ],
    check(view) {
        const frontend: [KeyPath, string][] = [
            [["frontend", "address"], view.get<string>(["frontend", "address"])],
            ...view.elements<string>(["frontend", "internalAddresses"]).map(([index, address]): [KeyPath, string] => [["frontend", "internalAddresses", index], address]),
        ].filter((entry): entry is [KeyPath, string] => entry[1] !== undefined);
        // A left-out internalAddresses reads as [address]; that is the same key, named once.
        const frontendKeys = view.isSet(["frontend", "internalAddresses"]) ? frontend : frontend.slice(0, 1);
        const backendKeys: KeyPath[] = [
            ["backend", "address"],
            ...(["internalAddress", "agentAddress"] as const).filter((k) => view.isSet(["backend", k])).map((k): KeyPath => ["backend", k]),
        ];
        return backendKeys.flatMap((backendKey) => {
            const address = view.get<string>(backendKey);
            const same = frontendKeys.find(([, frontendAddress]) => frontendAddress === address);
            return same
                ? [
                      {
                          keys: [backendKey, same[0]],
                          message: seedRule("the backend's address is one of the frontend's own: BACKEND_HOST, AGENT_HOST and Envoy's cluster would point the frontend at itself"),
                      },
                  ]
                : [];
        });
    },
};

const pm2NamesRule: CrossKeyRule = {
    name: "each pm2 app has its own name",
    reads: [
        ["apps", "limenFrontend", "name"],
        ["apps", "darc", "name"],
    ],
    check(view) {
        const limen = view.get<string>(["apps", "limenFrontend", "name"]);
        return limen !== undefined && limen === view.get<string>(["apps", "darc", "name"])
            ? [
                  {
                      keys: [
                          ["apps", "limenFrontend", "name"],
                          ["apps", "darc", "name"],
                      ],
                      message: "both apps have the same pm2 name: pm2 would treat them as one app",
                  },
              ]
            : [];
    },
};

const cwdFile = (cwd: string | undefined) => (cwd === undefined ? undefined : path.posix.join(cwd, envFileName));

const frontendFilesRule: CrossKeyRule = {
    name: "each file the stack installs on the frontend has its own path",
    reads: [["apps", "ecosystemPath"], ["apps", "limenFrontend", "cwd"], ["envoy", "enabled"], ["envoy", "configPath"], ["tls"]],
    check(view) {
        const files: [KeyPath | string, string | undefined][] = [
            [["apps", "ecosystemPath"], view.get(["apps", "ecosystemPath"])],
            [["apps", "limenFrontend", "cwd"], cwdFile(view.get<string>(["apps", "limenFrontend", "cwd"]))],
            ["the firewall's boot ruleset", firewallPaths.bootRuleset],
            ["the firewall's boot unit", firewallPaths.bootUnitPath],
            ["the host tool", hostToolPath],
        ];
        if (view.get<boolean>(["envoy", "enabled"]) === true) {
            files.push([["envoy", "configPath"], view.get(["envoy", "configPath"])]);
            if (view.get<string>(["tls", "source"]) === "config") {
                files.push(["the TLS certificate", path.posix.join(envoyTlsDir, "fullchain.pem")], ["the TLS key", path.posix.join(envoyTlsDir, "privkey.pem")]);
            }
            for (const field of ["certificateChainPath", "privateKeyPath"] as const) {
                if (view.get<string>(["tls", "source"]) === "host-files") files.push([["tls", field], view.get(["tls", field])]);
            }
            if (view.get<string>(["tls", "source"]) === "acme") {
                for (const name of ["limen", "darc", "sites"]) files.push([`Envoy's SDS file for the ${name} certificate`, sdsFile(name)]);
            }
        }
        if (view.get<string>(["tls", "source"]) === "acme") files.push(["certbot's renewal hook", acmePaths.renewalHook]);
        const findings: RuleFinding[] = [];
        const seen = new Map<string, KeyPath | string>();
        for (const [owner, file] of files) {
            if (file === undefined) continue;
            const first = seen.get(file);
            const firstIsKey = Array.isArray(first);
            // The two TLS host files may be one file holding both; they are read, never written.
            const bothTlsFiles = firstIsKey && (first as KeyPath)[0] === "tls" && Array.isArray(owner) && owner[0] === "tls";
            if (first !== undefined && !bothTlsFiles) {
                const keys = [first, owner].filter((o): o is KeyPath => Array.isArray(o));
                const named = [first, owner].filter((o): o is string => typeof o === "string");
                findings.push({
                    keys,
                    message: `${file} is ${named.length > 0 ? `also where the stack keeps ${named.join(" and ")}` : "two files at once"}: every file the stack installs needs its own path`,
                });
            } else if (first === undefined) {
                seen.set(file, owner);
            }
        }
        return findings;
    },
};

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
