/**
 * The cross-key rules about ports: one port per service on each host, and the backend's public API
 * ports never its internal ones (a seed rule). Each clash names every key involved, since only the
 * operator knows which one they meant to change. Listed with the others in rules.ts.
 */
import { seedPorts } from "../core/seed";
import { seedRule } from "./schema";
import type { CrossKeyRule, RuleFinding } from "./rule-types";
import type { KeyPath } from "./view";

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

export const publicPortRule: CrossKeyRule = {
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

export const frontendPortsRule: CrossKeyRule = {
    name: "one port per service on the frontend",
    reads: [
        ["ssh", "port"],
        ["apps", "limenFrontend", "port"],
        ["apps", "darc", "port"],
        ["envoy", "enabled"],
        ["envoy", "httpPort"],
        ["envoy", "httpsPort"],
        ["tls", "source"],
        ["tls", "responderPort"],
    ],
    check(view) {
        const ports: [KeyPath, number | undefined][] = [
            [["ssh", "port"], view.get(["ssh", "port"])],
            [["apps", "limenFrontend", "port"], view.get(["apps", "limenFrontend", "port"])],
            [["apps", "darc", "port"], view.get(["apps", "darc", "port"])],
        ];
        if (view.get<boolean>(["envoy", "enabled"]) === true) {
            ports.push([["envoy", "httpPort"], view.get(["envoy", "httpPort"])], [["envoy", "httpsPort"], view.get(["envoy", "httpsPort"])]);
        }
        // certbot's responder binds its port during every renewal, with or without Envoy.
        if (view.get<string>(["tls", "source"]) === "acme") ports.push([["tls", "responderPort"], view.get(["tls", "responderPort"])]);
        return portClashes("frontend", ports);
    },
};

export const backendPortsRule: CrossKeyRule = {
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
