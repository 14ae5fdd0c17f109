/**
 * The cross-key rules about the pm2 apps and their .env.production: every entry keeps the seed's rules
 * (seen with the backend's addresses and ports), a key is set once across the plain and the secret
 * values, and each app has its own pm2 name. Listed with the others in rules.ts.
 */
import { envEntryProblem } from "./env-values";
import type { CrossKeyRule, RuleFinding } from "./rule-types";
import type { KeyPath } from "./view";

export const envEntriesRule: CrossKeyRule = {
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

export const envKeysOnceRule: CrossKeyRule = {
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

export const pm2NamesRule: CrossKeyRule = {
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
