/**
 * The client's side of a step's deadline (hostio/ssh.ts, execOn), against a stand-in SSH channel and
 * fake clocks, and how a provider says a passed deadline (provider/host-providers.ts, stepFailure).
 */
import { EventEmitter } from "node:events";
import type { Client } from "ssh2";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gatedStepSeconds, killAfterSeconds, stepSeconds } from "../../hostio/deadlines";
import { execOn } from "../../hostio/ssh";
import { stepFailure } from "../../provider/host-providers";

/** A channel that closes with `status` after `afterMs`, or never; records whether the client closed it. */
function channel(status: number | undefined, afterMs: number) {
    const stream = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), end: () => undefined, closed: false, close: () => undefined });
    stream.close = () => {
        stream.closed = true;
    };
    const client = {
        exec(_command: string, callback: (error: Error | undefined, s: typeof stream) => void) {
            callback(undefined, stream);
            if (status !== undefined) setTimeout(() => stream.emit("close", status), afterMs);
        },
    } as unknown as Client;
    return { client, stream };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("execOn under a deadline", () => {
    it("marks a step the host stopped at its deadline (timeout's 124 after the deadline)", async () => {
        const { client } = channel(124, 30_500);
        const result = execOn(client, "step", "", 30);
        await vi.advanceTimersByTimeAsync(31_000);
        expect(await result).toEqual({ status: 124, stdout: "", stderr: "", deadlinePassed: true });
    });

    it("takes a 124 that comes before the deadline as the command's own status", async () => {
        const { client } = channel(124, 1_000);
        const result = execOn(client, "step", "", 30);
        await vi.advanceTimersByTimeAsync(2_000);
        expect(await result).toEqual({ status: 124, stdout: "", stderr: "" });
    });

    it("gives up on a connection that never answers, a little after the host's own deadline, and closes the channel", async () => {
        const { client, stream } = channel(undefined, 0);
        const result = execOn(client, "step", "", 30);
        const settled = result.then(
            () => "resolved",
            (error: Error) => error.message,
        );
        await vi.advanceTimersByTimeAsync((30 + killAfterSeconds + 9) * 1000);
        expect(stream.closed).toBe(false);
        await vi.advanceTimersByTimeAsync(2_000);
        expect(await settled).toBe(`no answer from the host ${30 + killAfterSeconds + 10} s after the command started (its deadline on the host was 30 s): the connection hangs`);
        expect(stream.closed).toBe(true);
    });
});

describe("a provider's step past its deadline", () => {
    const connection = { role: "frontend" as const, address: "192.0.2.10" };

    it("fails naming what it waited for and for how long, with the tool's own last words", () => {
        const result = { status: 124, stdout: "", stderr: "limen-host: pm2-apply: listing the apps: pm2 did not answer within 15 s\n", deadlinePassed: true };
        expect(stepFailure(connection, "reading pm2's state", 60, result)?.message).toBe(
            "frontend (192.0.2.10): reading pm2's state did not finish within 60 s: the host stopped it, and nothing it started runs there now; it had said: limen-host: pm2-apply: listing the apps: pm2 did not answer within 15 s",
        );
    });

    it("a status of 124 within the deadline is the command's own failure, in the host's words", () => {
        expect(stepFailure(connection, "installing /x", 60, { status: 124, stdout: "", stderr: "limen-host: nope\n" })?.message).toBe(
            "frontend (192.0.2.10): installing /x failed (exit 124): limen-host: nope",
        );
    });

    it("a step that succeeded is no failure", () => {
        expect(stepFailure(connection, "reading /x", 60, { status: 0, stdout: "ok", stderr: "" })).toBeUndefined();
    });
});

describe("the deadlines themselves", () => {
    it("a gated step outlasts its gate, a rollback and the gate again; the apps' apply a candidate's gate besides", () => {
        for (const gate of [5, 30, 600]) {
            expect(gatedStepSeconds(gate)).toBeGreaterThan(2 * gate + stepSeconds.install);
            expect(gatedStepSeconds(gate, 3)).toBeGreaterThan(3 * gate + stepSeconds.install);
        }
    });
});
