/**
 * Where the frontend reaches the backend's API (the middleware, the runbook's checks), and what it
 * checks there before a file that points the apps at the backend changes (hostio/preflight.ts).
 */
import type { LimenConfig } from "../config";
import { hostForUrl } from "../core/addresses";

/**
 * What the frontend checks before a file that points the apps at the backend changes (hostio/preflight.ts):
 * the API's health URL and the agent's address. Absent with limen:backend.skipPreflight.
 */
export interface BackendPreflight {
    /** `http://<BACKEND_HOST>:<BACKEND_PORT>/api/health`, as the runbook asks it. */
    healthUrl: string;
    agentHost: string;
    agentPort: number;
}

/** `http://<backend.internalAddress>:<apiPort>`, where the middleware must send every API request. */
export function backendOrigin(config: LimenConfig): string {
    return `http://${hostForUrl(config.backend.internalAddress)}:${config.backend.apiPort}`;
}

/** The backend API's health URL as the frontend (the middleware, the runbook, the preflight) asks it. */
export function backendHealthUrl(config: LimenConfig): string {
    return `${backendOrigin(config)}/api/health`;
}

/** The preflight of the files that point the apps at the backend; undefined with limen:backend.skipPreflight. */
export function backendPreflight(config: LimenConfig): BackendPreflight | undefined {
    return config.backend.skipPreflight ? undefined : { healthUrl: backendHealthUrl(config), agentHost: config.backend.agentAddress, agentPort: config.backend.agentPort };
}
