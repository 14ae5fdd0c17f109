/** The backend preflight's command (hostio/preflight.ts), run for real here against a stand-in API and agent. */
import { spawnSync } from "node:child_process";
import { createServer, Server } from "node:http";
import { AddressInfo, createServer as createTcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { judgePreflight, preflightCommand } from "../../hostio/preflight";
import type { BackendPreflight } from "../../plan/backend-api";

const planned: BackendPreflight = { healthUrl: "http://10.0.0.100:18443/api/health", agentHost: "10.0.0.100", agentPort: 9000 };

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
