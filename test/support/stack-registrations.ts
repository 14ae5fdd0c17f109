/** The stack's registrations under Pulumi's mocks, and what each resource asks of its host. */
import { beforeAll } from "vitest";
import { parseConfig } from "../../config";
import type { LimenStack } from "../../components/stack";
import { hostResourceTypes } from "../../provider/resource-types";
import { installMocks, plainOnWire, recordRegistrations, Registration } from "./mocks";

export let createLimenStack: (config: ReturnType<typeof parseConfig>) => LimenStack;

beforeAll(async () => {
    await installMocks();
    // Imported after the mocks are installed, as Pulumi's testing guide requires.
    ({ createLimenStack } = await import("../../components/stack"));
});

export const shortName = (urn: string) => urn.split("::").at(-1) ?? urn;
export const hostType = (type: string) => `limen:host:${type}`;
export const isHostResource = (r: Registration) => (Object.values(hostResourceTypes) as string[]).includes(r.type);

export async function registrationsFor(raw: Record<string, string>): Promise<Registration[]> {
    return recordRegistrations(() => {
        createLimenStack(parseConfig(raw));
    });
}

export function byName(registrations: Registration[]): Map<string, Registration> {
    return new Map(registrations.map((r) => [r.name, r]));
}

/** What a resource asks of its host: every input but the connection. */
export function planned(registrations: Registration[]): Record<string, string> {
    return Object.fromEntries(
        registrations.filter(isHostResource).map((r) => {
            // How the resource reaches its host and what the frontend checks before a change are not what it puts there.
            const { connection, preflight, ...rest } = r.wire;
            return [r.name, JSON.stringify(rest, (_key, value) => plainOnWire(value))];
        }),
    );
}

export function changedBetween(before: Record<string, string>, after: Record<string, string>): string[] {
    return Object.keys(before)
        .filter((name) => before[name] !== after[name])
        .sort();
}
