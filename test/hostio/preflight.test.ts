/** The backend preflight (hostio/preflight.ts): what the plan checks first, and how the frontend's answer is judged. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { judgePreflight, preflightFailure } from "../../hostio/preflight";
import type { BackendPreflight } from "../../plan/backend-api";
import { planStack } from "../../plan/hosts";
import { prodRawConfig, withOverride } from "../support/fixtures";

const prod = planStack(parseConfig(prodRawConfig()));
const planned: BackendPreflight = { healthUrl: "http://10.0.0.100:18443/api/health", agentHost: "10.0.0.100", agentPort: 9000 };

describe("the plan: the files that point the apps at the backend are checked first", () => {
    it("the env file and the ecosystem carry the seed's backend as the preflight; nothing else does", () => {
        const checked = prod.frontend.files.filter((file) => file.preflight).map((file) => [file.name, file.preflight]);
        expect(checked).toEqual([
            ["ecosystem", planned],
            ["env-production", planned],
        ]);
    });

    it("limen:backend.skipPreflight: true (a first deploy, backend not up yet) drops it", () => {
        const skipped = planStack(parseConfig(withOverride(prodRawConfig(), "backend", { skipPreflight: true })));
        expect(skipped.frontend.files.filter((file) => file.preflight)).toEqual([]);
    });

    it("limen:backend.skipPreflight must be true or false", () => {
        expect(() => parseConfig(withOverride(prodRawConfig(), "backend", { skipPreflight: "yes" }))).toThrow(/limen:backend\.skipPreflight.*must be true or false/);
    });
});

describe("judging what the frontend saw", () => {
    const api = "limen:backend.internalAddress and limen:backend.apiPort (BACKEND_HOST:BACKEND_PORT): http://10.0.0.100:18443/api/health from the frontend";
    const agent = "limen:backend.agentAddress and limen:backend.agentPort (AGENT_HOST:AGENT_PORT): 10.0.0.100:9000 from the frontend";
    const lines = (apiConnect: string, agentConnect: string, health: string) => `api-connect ${apiConnect}\nagent-connect ${agentConnect}\nhealth ${health}\n`;
    it.each([
        [lines("0 ", "0 ", "0 200"), []],
        [lines("124 ", "0 ", "28 000"), [`${api} timed out after 5 s (no host answers there, or a firewall drops it)`]],
        [lines("1 limen-preflight: connect: No route to host", "0 ", "7 000"), [`${api} is unreachable (no host has that address: no route to host)`]],
        [lines("1 limen-preflight: connect: Connection refused", "0 ", "7 000"), [`${api} was refused (nothing listens on that port)`]],
        [lines("0 ", "0 ", "0 404"), [`${api} answered HTTP 404, not 2xx (something else listens there, or the API is unwell)`]],
        [lines("0 ", "0 ", "28 000"), [`${api} timed out after 5 s waiting for an answer`]],
        [lines("0 ", "124 ", "0 200"), [`${agent} timed out after 5 s (no host answers there, or a firewall drops it)`]],
        [lines("0 ", "1 limen-preflight: connect: Connection refused", "0 200"), [`${agent} was refused (nothing listens on that port)`]],
        ["sh: curl: not found\n", ["the preflight printed nothing it can judge: sh: curl: not found"]],
    ])("%j", (stdout, problems) => {
        expect(judgePreflight(planned, stdout)).toEqual(problems);
    });

    it("the failure names the file, every problem, that nothing changed, and when to skip", () => {
        expect(preflightFailure("/srv/limen-frontend/.env.production", ["A", "B"])).toBe(
            "backend preflight refused /srv/limen-frontend/.env.production: A; B. Nothing on the hosts was changed. " +
                "Fix the address or start the service; set limen:backend.skipPreflight: true only for a first deploy where the backend is not up yet",
        );
    });
});
