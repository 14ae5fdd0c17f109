import { spawnSync } from "node:child_process";
import { createServer, Server } from "node:http";
import { AddressInfo, createServer as createTcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import { judgePreflight, preflightCommand, preflightFailure } from "../hostio/preflight";
import { BackendPreflight } from "../plan/backend-api";
import { planStack } from "../plan/hosts";
import { prodRawConfig, withOverride } from "./support/fixtures";

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

describe("the command, run for real here against a stand-in API and agent", () => {
    let api: Server;
    let apiPort: number;
    let agentPort: number;
    let closedPort: number;
    const agent = createTcpServer((socket) => socket.end());

    beforeAll(async () => {
        api = createServer((request, response) => {
            response.statusCode = request.url === "/api/health" ? 200 : 404;
            response.end("{}");
        });
        await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
        apiPort = (api.address() as AddressInfo).port;
        await new Promise<void>((resolve) => agent.listen(0, "127.0.0.1", resolve));
        agentPort = (agent.address() as AddressInfo).port;
        // A port that was just free: nothing listens there.
        const probe = createTcpServer();
        await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
        closedPort = (probe.address() as AddressInfo).port;
        await new Promise((resolve) => probe.close(resolve));
    });

    afterAll(() => {
        api.close();
        agent.close();
    });

    /** Runs the command asynchronously: the stand-ins answer on this process's event loop. */
    const run = (preflight: BackendPreflight) =>
        new Promise<string>((resolve) => {
            const { spawn } = require("node:child_process") as typeof import("node:child_process");
            const child = spawn("sh", ["-c", preflightCommand(preflight)]);
            let out = "";
            child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
            child.on("close", () => resolve(out));
        });

    it("both answering: no problem", async () => {
        const preflight = { healthUrl: `http://127.0.0.1:${apiPort}/api/health`, agentHost: "127.0.0.1", agentPort };
        expect(judgePreflight(preflight, await run(preflight))).toEqual([]);
    });

    it("a closed API port and a closed agent port: both refused, named", async () => {
        const preflight = { healthUrl: `http://127.0.0.1:${closedPort}/api/health`, agentHost: "127.0.0.1", agentPort: closedPort };
        const problems = judgePreflight(preflight, await run(preflight));
        expect(problems).toHaveLength(2);
        expect(problems[0]).toMatch(/BACKEND_HOST:BACKEND_PORT.*was refused/);
        expect(problems[1]).toMatch(/AGENT_HOST:AGENT_PORT.*was refused/);
    });

    it("something else on the API port (no /api/health): its HTTP status", async () => {
        const preflight = { healthUrl: `http://127.0.0.1:${apiPort}/health`, agentHost: "127.0.0.1", agentPort };
        expect(judgePreflight(preflight, await run(preflight))).toEqual([expect.stringMatching(/answered HTTP 404, not 2xx/)]);
    });

    it("the command only connects: no sudo, nothing written", () => {
        const command = preflightCommand(planned);
        expect(command).not.toMatch(/sudo|>\s*\/(?!dev\/null)|rm |mv /);
        expect(spawnSync("sh", ["-n", "-c", command]).status).toBe(0);
    });
});
