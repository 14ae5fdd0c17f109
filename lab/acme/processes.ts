/**
 * How the lab's ACME test server (pebble.ts) runs its processes: commands run to completion, and
 * long-running daemons inside a network namespace, each logging to lab/.state/acme/<name>.log, waited
 * on until they answer and stopped (SIGTERM, then SIGKILL) when the test is done.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { stateDir } from "../stack";

/** Where the daemons' logs go. */
export const logDir = path.join(stateDir, "acme");
const startTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;

export interface Output {
    stdout: string;
    stderr: string;
}

/** Runs a command to completion; rejects with its stderr when it fails. */
export function run(command: string, args: string[], input?: string): Promise<Output> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code, signal) => {
            if (code === 0) resolve({ stdout, stderr });
            else reject(new Error(`\`${[command, ...args].join(" ")}\` exited ${code ?? signal}: ${stderr.trim()}`));
        });
        child.stdin?.end(input);
    });
}

export function inNamespace(namespace: string, command: string, args: string[]): Promise<Output> {
    return run("ip", ["netns", "exec", namespace, command, ...args]);
}

export interface Daemon {
    name: string;
    child: ChildProcess;
    logFile: string;
    exited: Promise<void>;
}

/** Starts a long-running process in the namespace, its stdout and stderr in lab/.state/acme/<name>.log. */
export function startDaemon(namespace: string, name: string, command: string, args: string[], env: Record<string, string> = {}): Daemon {
    const logFile = path.join(logDir, `${name}.log`);
    const log = openSync(logFile, "w");
    try {
        const child = spawn("ip", ["netns", "exec", namespace, command, ...args], {
            stdio: ["ignore", log, log],
            env: { ...process.env, ...env },
        });
        // `error` without `exit` when `ip` itself cannot be started.
        const exited = new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.once("error", () => resolve());
        });
        return { name, child, logFile, exited };
    } finally {
        closeSync(log);
    }
}

function running(daemon: Daemon): boolean {
    // No pid: `ip` itself could not be started.
    return daemon.child.pid !== undefined && daemon.child.exitCode === null && daemon.child.signalCode === null;
}

export async function stopDaemon(daemon: Daemon): Promise<void> {
    if (running(daemon)) daemon.child.kill("SIGTERM");
    const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), stopTimeoutMs).unref());
    if ((await Promise.race([daemon.exited, timeout])) === "timeout") {
        daemon.child.kill("SIGKILL");
        await daemon.exited;
    }
}

function logTail(daemon: Daemon): string {
    return readFileSync(daemon.logFile, "utf8").trim().split("\n").slice(-10).join("\n");
}

/** Waits until `probe` succeeds while every daemon keeps running; the error names the log files. */
export async function waitUntil(what: string, daemons: Daemon[], probe: () => Promise<unknown>): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    let lastError = "";
    for (;;) {
        const dead = daemons.find((daemon) => !running(daemon));
        if (dead) {
            throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}) before ${what}; log ${dead.logFile}:\n${logTail(dead)}`);
        }
        try {
            await probe();
            return;
        } catch (error) {
            lastError = (error as Error).message;
        }
        if (Date.now() > deadline) {
            const logs = daemons.map((daemon) => daemon.logFile).join(", ");
            throw new Error(`${what}: not after ${startTimeoutMs / 1000} s (${lastError}); logs: ${logs}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
}
