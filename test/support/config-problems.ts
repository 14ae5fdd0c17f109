/**
 * Reading a refusal as an operator reads it: which `limen:` keys a line names, and whether its words
 * are zod's own (a refusal must say the rule in the stack's words).
 */
import { ConfigError, parseConfig } from "../../config";

/** Every `limen:<key>` a problem line names, where it leads the line or where its words mention one. */
export function namedKeys(line: string): string[] {
    return [...line.matchAll(/limen:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+|\[(?:\d+|"(?:[^"\\]|\\.)*")\])*/g)].map((match) => match[0]);
}

/** zod's default messages ("Too small: expected number to be >=1", "Invalid input: expected string"). */
export const zodWording = /Too (small|big)|Invalid input|expected \w+ to (be|have)|received \w+|Unrecognized key|Invalid (option|string|key|element|union)/;

/** The problem lines parseConfig prints for a raw config; [] when it is accepted. */
export function problemsOf(raw: Record<string, string>, isSecret?: (fullKey: string) => boolean): string[] {
    try {
        parseConfig(raw, isSecret);
    } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
    }
    return [];
}
