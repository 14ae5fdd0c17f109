/**
 * The cross-key rules about who may reach what, the firewall's inputs: the internal ports open to the
 * frontend only, deployments from inside the admin networks, admin networks that nft can put in one
 * set, and a backend that is not the frontend itself. Listed with the others in rules.ts.
 */
import { addressFamily, cidrContains } from "../core/addresses";
import { seedRule } from "./schema";
import type { CrossKeyRule } from "./rule-types";
import type { KeyPath } from "./view";

export const internalClientsRule: CrossKeyRule = {
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

export const deployFromRule: CrossKeyRule = {
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

export const adminNetworksRule: CrossKeyRule = {
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

export const backendNotFrontendRule: CrossKeyRule = {
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
