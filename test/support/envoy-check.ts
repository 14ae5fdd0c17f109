/**
 * Envoy's bootstrap judged by Envoy's own validators: tools/envoy-check, a small Go program on
 * go-control-plane v1.38.0 (the pinned Envoy image's version), loads the YAML as Envoy does (YAML to
 * proto JSON with yaml-cpp's scalar rules, unknown fields refused, every typed_config resolved by its
 * type URL), runs the protoc-gen-validate validators go-control-plane generates on the bootstrap and
 * on each extension config, then the cross-reference checks Envoy makes at load. It prints "ok", or
 * one line per problem: `<field path>: <problem> (line N)`.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, expect } from "vitest";
import { parseConfig } from "../../config";
import { envoySpec } from "../../plan/envoy";
import { renderEnvoy } from "../../render/envoy";
import { otherRawConfig, prodRawConfig, repoRoot, withOverride } from "./fixtures";

const buildScript = path.join(repoRoot, "tools", "envoy-check", "build.sh");
let checker = "";

/** The checker's path, once the build useEnvoyChecker schedules is done. */
export const envoyChecker = () => checker;

/** Builds the checker before the calling file's tests (cached outside the repo after the first build). */
export function useEnvoyChecker(): void {
    beforeAll(buildChecker, 900_000);
}

function buildChecker(): void {
    const started = Date.now();
    // Built from its Go module and cached outside the repo; a no-op (well under a second) once cached.
    const build = spawnSync("bash", [buildScript], { encoding: "utf8" });
    const log = (build.stderr ?? "").trim();
    if (build.error || build.status !== 0) {
        if (/go not found/.test(log))
            throw new Error(
                "Go is missing: tools/envoy-check (Envoy's validators, from go-control-plane) is built with Go; " +
                    `install Go (looked for on PATH and at /usr/local/go/bin/go). The build said: ${log}`,
            );
        throw new Error(`tools/envoy-check/build.sh failed (exit ${build.status}): ${build.error?.message ?? ""}\n${log}`);
    }
    checker = build.stdout.trim().split("\n").at(-1) ?? "";
    // The build's own timings (module download, compile), and the total as this test saw it.
    process.stderr.write(`${log}\nenvoy-check ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${checker}\n`);
}

/** The checker's verdict: [] when Envoy would load the bootstrap, else one line per problem. */
export function envoyProblems(bootstrap: string | object): string[] {
    return checkerVerdict([], bootstrap);
}

/** The checker's verdict on an SDS file (`--sds`), with the name the bootstrap's SdsSecretConfig gives its Secret. */
export function sdsProblems(file: string | object, secretName: string): string[] {
    return checkerVerdict(["--sds", "--name", secretName], file);
}

function checkerVerdict(args: string[], document: string | object): string[] {
    const input = typeof document === "string" ? document : stringify(document, { aliasDuplicateObjects: false, lineWidth: 0 });
    const run = spawnSync(checker, args, { input, encoding: "utf8" });
    if (run.error || (run.status !== 0 && run.status !== 1)) throw new Error(`envoy-check failed (exit ${run.status}): ${run.error?.message ?? run.stderr}`);
    const lines = run.stdout.split("\n").filter((line) => line !== "");
    if (run.status === 0) {
        expect(lines).toEqual(["ok"]);
        return [];
    }
    expect(lines.length).toBeGreaterThan(0);
    return lines;
}

export const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A problem line about exactly `field` (a path from the document's root) whose message contains `says`. */
export const problemAt = (field: string, says: string) => expect.stringMatching(new RegExp(`^${escape(field)}: .*${escape(says)}`));

export type Json = Record<string, any>;

export const prod = parseConfig(prodRawConfig());
export const other = parseConfig(otherRawConfig());
export const renderFor = (raw: Record<string, string>) => renderEnvoy(envoySpec(parseConfig(raw)));
/** Pulumi.prod.yaml with the certificates certbot keeps in live/ named as host files, as before the acme source. */
export const prodHostFilesRaw = () =>
    withOverride(
        prodRawConfig(),
        "tls",
        JSON.stringify({ source: "host-files", certificateChainPath: "/etc/letsencrypt/live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }),
    );

export const HTTPS_HCM = "static_resources.listeners[1].filter_chains[0].filters[0].typed_config";
export const LIMEN_ROUTE = `${HTTPS_HCM}.route_config.virtual_hosts[0].routes[0]`;
export const HTTPS_TLS = "static_resources.listeners[1].filter_chains[0].transport_socket.typed_config.common_tls_context";
export const BACKEND_ENDPOINT = "static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address";

// Paths into the rendered prod bootstrap (certificates named in it as host files; envoy-sds-api.tools.test.ts breaks the SDS ones).
export const renderedProd = (): Json => parse(renderFor(prodHostFilesRaw()));
export const httpsListener = (b: Json): Json => b.static_resources.listeners[1];
export const httpsManager = (b: Json): Json => httpsListener(b).filter_chains[0].filters[0].typed_config;
export const limenRoute = (b: Json): Json => httpsManager(b).route_config.virtual_hosts[0].routes[0];
export const httpsTls = (b: Json): Json => httpsListener(b).filter_chains[0].transport_socket.typed_config.common_tls_context;
export const backendSocket = (b: Json): Json => b.static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
