/**
 * Whether a further .env.production entry keeps the seed's rules: the frontend reaches the backend
 * only through BACKEND_HOST/BACKEND_PORT and the browser only through the relative path /api, so no
 * value may be an absolute URL to the backend, to the frontend itself, or with a port.
 */
import { readAddress } from "../core/addresses";
import { nextPublicBackendUrlRule, seedRule } from "./schema";

/** The four keys the seed puts in .env.production; config may not set them any other way. */
export const seedEnvKeys = ["BACKEND_HOST", "BACKEND_PORT", "AGENT_HOST", "AGENT_PORT"] as const;

/**
 * Keys pm2 sets from limen:apps.<app>.host and .port: a second value in .env.production could move a
 * server that reads them (`next start` standalone, a plain Node server) off 127.0.0.1.
 */
export const bindEnvKeys = ["HOSTNAME", "PORT"] as const;

/** What the rules know of the backend; a key that could not be read is left out. */
export interface BackendFacts {
    address?: string;
    internalAddress?: string;
    agentAddress?: string;
    publicApiPorts?: number[];
}

const isSpecialScheme = (protocol: string) => ["http:", "https:", "ws:", "wss:", "ftp:"].includes(protocol);

/** `host:port` with a host that reads as one: an IP literal, a name with a dot, or localhost. */
const bareHostPort = /^(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)+|localhost):\d{1,5}([/?#]|$)/i;

/**
 * `host:port` with a one-part host (`2130706432:18443`, `0x7f000001:80`, `0:18443`), which URL parsers
 * read as an IPv4 address. A clock time (`12:30`) has the same shape; it is left as text, since no
 * one spells an address as a small number before a port under 60.
 */
function isNumberHostPort(text: string): boolean {
    const match = /^(0x[0-9a-f]+|\d+):(\d{1,5})([/?#]|$)/i.exec(text);
    return match !== null && (/^0x/i.test(match[1]!) || Number(match[1]) >= 256 || Number(match[2]) >= 60);
}

/**
 * The URL a value is, read as the app would read it, or undefined when it is not an absolute URL.
 * `new URL()` is the judge (Node's and the browser's WHATWG parser, with its leniencies: `http:host`,
 * backslashes, tabs inside); forms it would read relative to the page are tried the way a browser
 * resolves them: `//host:18443/api` takes the page's scheme (https), and `host:18443` reads as
 * `http://host:18443`.
 */
export function absoluteUrl(value: string): URL | undefined {
    // What the WHATWG parser drops before it reads anything: C0 controls and spaces at either end, and
    // every tab and newline.
    const text = value.replace(/[\t\n\r]/g, "").replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "");
    const candidates = [text];
    // A browser resolves `//host` against the page, and the frontend's pages are HTTPS (Envoy
    // redirects plain HTTP): `//host:80/api` is https://host:80, a port that is not the default.
    if (/^[\\/]{2}/.test(text)) candidates.push(`https:${text}`);
    else if (bareHostPort.test(text) || isNumberHostPort(text)) candidates.push(`http://${text}`);
    for (const candidate of candidates) {
        try {
            const url = new URL(candidate);
            if (url.host !== "") return url;
        } catch {
            // Not a URL in this form; the next candidate may be.
        }
    }
    return undefined;
}

/** The address a URL's host names, in the canonical spelling, or its kind when it is loopback-like. */
function urlHost(url: URL): ReturnType<typeof readAddress> {
    let host = url.hostname;
    // Special schemes decode and canonicalise the host; the others keep it as written.
    if (!isSpecialScheme(url.protocol)) {
        try {
            host = decodeURIComponent(host);
        } catch {
            // Left as written: readAddress refuses what it cannot read.
        }
    }
    return readAddress(host);
}

/** Why an extra .env.production entry would break the seed's rules, or undefined when it is fine. */
export function envEntryProblem(key: string, value: string, config: { backend: BackendFacts }, secret = false): string | undefined {
    // The line already shows a plain value beside its key; a secret one is described, never quoted.
    const shown = secret ? "the secret value" : "the value";
    if ((seedEnvKeys as readonly string[]).includes(key)) {
        return `${key} is rendered from limen:backend; setting it here would let two values disagree`;
    }
    if ((bindEnvKeys as readonly string[]).includes(key)) {
        return `${key} is set by pm2 from limen:apps.limenFrontend.host and .port (127.0.0.1 only); a second value here could move the app off 127.0.0.1`;
    }
    if (/[\n\r']/.test(value)) {
        return "a .env.production value may not contain a newline or a single quote (Next.js's loader would not read it back unchanged)";
    }
    if (key.toUpperCase() === "NEXT_PUBLIC_BACKEND_URL") {
        return nextPublicBackendUrlRule;
    }
    const url = absoluteUrl(value);
    if (url) {
        const host = urlHost(url);
        const backend = config.backend;
        const backendKey = (["internalAddress", "agentAddress", "address"] as const).find((k) => "address" in host && backend[k] === host.address);
        if (backendKey) {
            return seedRule(
                `${shown} is an absolute URL to the backend (limen:backend.${backendKey}); the frontend reaches it only through BACKEND_HOST/BACKEND_PORT and the relative path /api`,
            );
        }
        if (host.kind === "loopback" || host.kind === "hostname-loopback" || host.kind === "unspecified") {
            return seedRule(
                `${shown} is an absolute URL to a loopback address, which from the frontend is the frontend itself; the backend is reached only through BACKEND_HOST/BACKEND_PORT`,
            );
        }
        if (url.port !== "") {
            return seedRule(`${shown} is an absolute URL with an explicit port; put no port into an absolute URL`);
        }
        if (key.startsWith("NEXT_PUBLIC_")) {
            return seedRule(`${key} is an absolute URL sent to browsers; the API client uses the relative path /api`);
        }
    }
    const publicPorts = (config.backend.publicApiPorts ?? []).map(String);
    if (/PORT$/.test(key) && publicPorts.includes(value.trim())) {
        return seedRule(`${shown} is the backend's external API port (limen:backend.publicApiPorts); use the internal port (limen:backend.apiPort)`);
    }
    return undefined;
}
