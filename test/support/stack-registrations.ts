/** The stack's registrations under Pulumi's mocks, and what each resource asks of its host. */
import { beforeAll } from "vitest";
import { LimenConfig, parseConfig } from "../../config";
import type { LimenStack } from "../../components/stack";
import { hostResourceTypes } from "../../core/resource-types";
import { installMocks, plainOnWire, recordRegistrations, Registration } from "./mocks";

let createLimenStack: (config: LimenConfig) => LimenStack;

/**
 * Installs Pulumi's mocks before the calling file's tests, then loads the stack: imported after the
 * mocks are installed, as Pulumi's testing guide requires. Called at the top of each such file (a
 * hook in this module's body would run for the first file of a worker only: the unit project shares
 * modules between files).
 */
export function useMockedStack(): void {
    beforeAll(async () => {
        await installMocks();
        ({ createLimenStack } = await import("../../components/stack"));
    });
}

/** The stack for a checked config, under the mocks useMockedStack installed. */
export const limenStack = (config: LimenConfig): LimenStack => createLimenStack(config);

const recorded = new Map<string, Registration[]>();

export const shortName = (urn: string) => urn.split("::").at(-1) ?? urn;
export const hostType = (type: string) => `limen:host:${type}`;
export const isHostResource = (r: Registration) => (Object.values(hostResourceTypes) as string[]).includes(r.type);

/** Every registration of the stack for a raw config (registered once per config; each caller gets its own copy). */
export async function registrationsFor(raw: Record<string, string>): Promise<Registration[]> {
    const key = JSON.stringify(raw);
    if (!recorded.has(key)) {
        recorded.set(
            key,
            await recordRegistrations(() => {
                limenStack(parseConfig(raw));
            }),
        );
    }
    return structuredClone(recorded.get(key)!);
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
