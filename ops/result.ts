/** One check's verdict, and the wording shared by every judge. */
import { RemoteResult } from "./remote";

export interface CheckResult {
    check: string;
    ok: boolean;
    /** Passed, but needs attention soon (a certificate close to expiry); does not change the exit code. */
    warning?: boolean;
    /** One line: what was seen, and on failure what to do next. */
    detail: string;
    /** Log lines shown with the result (the middleware's `Proxy ... session` lines). */
    lines?: string[];
}

export const oneLine = (text: string, max = 160): string => {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export const lastLine = (text: string): string => text.trim().split("\n").at(-1)?.trim() ?? "";

/** The reason a command did not run as asked: no SSH session, no sudo, or a missing tool. */
export function commandFailure(result: RemoteResult, what: string): string | undefined {
    if (result.failure) return result.failure;
    if (/sudo: (a password is required|a terminal is required)/.test(result.stderr)) {
        return `${what}: sudo asks for a password; the deploy user needs passwordless sudo (docs/operations.md, "Prerequisites")`;
    }
    if (result.status === 127) return `${what}: ${lastLine(result.stderr) || "command not found"}`;
    return undefined;
}
