/**
 * .env.production for the LIMEN Next.js app: the seed's four keys first, then any extra keys the
 * config lists. NEXT_PUBLIC_BACKEND_URL is never written (seed: the browser uses the relative /api).
 */
export interface EnvFileSpec {
    backendHost: string;
    backendPort: number;
    agentHost: string;
    agentPort: number;
    /** Further keys, already checked by the config schema. */
    extra: Record<string, string>;
}

export const forbiddenEnvKeys = ["NEXT_PUBLIC_BACKEND_URL"] as const;

/**
 * One value in the syntax Next.js's loader (dotenv + dotenv-expand) reads back unchanged: plain when
 * safe, otherwise single-quoted with `$` escaped, since dotenv-expand expands `$NAME` even there.
 */
export function quoteEnvValue(value: string): string {
    if (/[\n\r']/.test(value)) throw new Error("a .env value may not contain a newline or a single quote");
    if (/^[A-Za-z0-9_./:@+,=%-]*$/.test(value)) return value;
    return `'${value.replace(/\$/g, "\\$")}'`;
}

export function envEntries(spec: EnvFileSpec): [string, string][] {
    const entries: [string, string][] = [
        ["BACKEND_HOST", spec.backendHost],
        ["BACKEND_PORT", String(spec.backendPort)],
        ["AGENT_HOST", spec.agentHost],
        ["AGENT_PORT", String(spec.agentPort)],
        ...Object.entries(spec.extra).sort(([a], [b]) => a.localeCompare(b)),
    ];
    for (const [key] of entries) {
        if ((forbiddenEnvKeys as readonly string[]).includes(key.toUpperCase())) {
            throw new Error(`${key} must never be written to .env.production`);
        }
    }
    return entries;
}

export function renderEnvFile(spec: EnvFileSpec): string {
    return [
        "# .env.production, rendered by limen-infra; replaced by `pulumi up`.",
        "# Internal address and port of the backend (seed: session traffic uses the internal port).",
        "# NEXT_PUBLIC_BACKEND_URL is deliberately not set: the browser calls the relative path /api.",
        ...envEntries(spec).map(([key, value]) => `${key}=${quoteEnvValue(value)}`),
        "",
    ].join("\n");
}
