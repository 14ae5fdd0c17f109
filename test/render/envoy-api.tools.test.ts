/** Every rendered bootstrap (render/envoy.ts) loads, judged by Envoy's validators; a corpus of broken ones, each refused with its reason. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { envoySpec } from "../../plan/envoy";
import { renderEnvoy } from "../../render/envoy";
import { prodRawConfig, repoRoot, withOverride } from "../support/fixtures";
import {
    envoyChecker,
    envoyProblems,
    escape,
    problemAt,
    Json,
    prod,
    other,
    renderFor,
    prodHostFilesRaw,
    HTTPS_HCM,
    LIMEN_ROUTE,
    HTTPS_TLS,
    BACKEND_ENDPOINT,
    renderedProd,
    httpsListener,
    httpsManager,
    limenRoute,
    httpsTls,
    backendSocket,
    useEnvoyChecker,
} from "../support/envoy-check";

useEnvoyChecker();

/** The configs of the test tables (fixtures.ts) and the variants the other tests render Envoy with. */
const rendered: [string, () => string][] = [
    ["prod (Pulumi.prod.yaml)", () => renderEnvoy(envoySpec(prod))],
    ["prod with certificates from host files (certbot's live/)", () => renderFor(prodHostFilesRaw())],
    ["prod with one ACME certificate for every domain", () => renderFor(withOverride(prodRawConfig(), "tls", { certificates: "single" }))],
    ["other (documentation addresses, IPv6 clients, TLS from config, a backend route prefix)", () => renderEnvoy(envoySpec(other))],
    ["prod with another LIMEN domain (test/components)", () => renderFor(withOverride(prodRawConfig(), "domains", { limen: ["app.darc.kr"] }))],
    [
        "prod on ports 8080/8443 with two backend prefixes (the redirect names the port)",
        () => renderFor(withOverride(prodRawConfig(), "envoy", { httpPort: 8080, httpsPort: 8443, backendRoutePrefixes: ["/api/agent", "/api/v2"] })),
    ],
    ["prod, backend cluster on the external port (test/policy)", () => renderEnvoy({ ...envoySpec(prod), backend: { address: "10.0.0.100", port: 8443 } })],
    ["prod, backend cluster on another address (test/policy)", () => renderEnvoy({ ...envoySpec(prod), backend: { address: "10.0.0.101", port: 18443 } })],
    ["other, an IPv6 backend in a long spelling (test/policy)", () => renderEnvoy({ ...envoySpec(other), backend: { address: "2001:DB8:0:0::100", port: 18443 } })],
    // Loopback backends are the policy pack's to refuse (test/policy); as IP literals Envoy loads them.
    ...["127.0.0.1", "127.0.0.53", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "0.0.0.0", "::"].map((address): [string, () => string] => [
        `prod, backend ${address} (test/policy)`,
        () => renderEnvoy({ ...envoySpec(prod), backend: { address, port: 18443 } }),
    ]),
];

describe("every rendered bootstrap loads, judged by Envoy's validators (go-control-plane v1.38.0)", () => {
    it("the validators are those of the Envoy version the stack runs", () => {
        const tag = /^envoyproxy\/envoy:(v\d+\.\d+)\.\d+@/.exec(prod.envoy.image)?.[1];
        const version = spawnSync(envoyChecker(), ["--version"], { encoding: "utf8" }).stdout;
        expect(tag).toBeDefined();
        expect(version).toMatch(new RegExp(`go-control-plane/envoy ${escape(tag ?? "?")}\\.\\d+\\b`));
    });

    it.each(rendered)("%s", (_label, render) => {
        expect(envoyProblems(render())).toEqual([]);
    });

    // The policy tests also render backends that are no IP literal; Envoy refuses those itself, at load.
    it.each(["127.1", "localhost", "LOCALHOST", "app.localhost", "0x7f.0.0.1", "2130706433"])(
        "a STATIC cluster endpoint %j is refused: Envoy reads it as an IP literal",
        (address) => {
            expect(envoyProblems(renderEnvoy({ ...envoySpec(prod), backend: { address, port: 18443 } }))).toEqual([
                problemAt(`${BACKEND_ENDPOINT}.address`, `malformed IP address: ${JSON.stringify(address)}`),
            ]);
        },
    );
});

// ---- a corpus of broken bootstraps, each derived from the rendered prod one (host files) ----

describe("a corpus of broken bootstraps derived from the rendered prod one, each refused with its reason", () => {
    it("the unbroken one loads (the corpus starts from a valid bootstrap)", () => {
        expect(envoyProblems(renderedProd())).toEqual([]);
    });

    it.each<[string, (b: Json) => void, string, string]>([
        ["an unknown field", (b) => (httpsManager(b).stat_prefixx = "x"), `${HTTPS_HCM}.stat_prefixx`, 'unknown field "stat_prefixx"'],
        [
            "a port out of range (70000)",
            (b) => (httpsListener(b).address.socket_address.port_value = 70000),
            "static_resources.listeners[1].address.socket_address.port_value",
            "value must be less than or equal to 65535",
        ],
        ["a route with no action", (b) => delete limenRoute(b).route, LIMEN_ROUTE, "one of route, redirect, direct_response, filter_action, non_forwarding_action is required"],
        [
            "a safe_regex that is not RE2 (a lookahead)",
            (b) => (limenRoute(b).match = { safe_regex: { regex: "^/(?!api/).*" } }),
            `${LIMEN_ROUTE}.match.safe_regex.regex`,
            "is not a valid RE2 regular expression",
        ],
        ["a route to a missing cluster", (b) => (limenRoute(b).route.cluster = "limen_nextjs_v2"), `${LIMEN_ROUTE}.route.cluster`, 'route: unknown cluster "limen_nextjs_v2"'],
        ["a TLS context without certificates", (b) => delete httpsTls(b).tls_certificates, HTTPS_TLS, "No TLS certificates found for server context"],
        [
            "duplicate listener names",
            (b) => (httpsListener(b).name = b.static_resources.listeners[0].name),
            "static_resources.listeners[1].name",
            'duplicate listener name "http_80"',
        ],
        // Further rules Envoy applies at load.
        [
            "a certificate without its private key",
            (b) => delete httpsTls(b).tls_certificates[0].private_key,
            `${HTTPS_TLS}.tls_certificates[0].private_key`,
            "incomplete certificate",
        ],
        [
            "duplicate cluster names",
            (b) => b.static_resources.clusters.push({ ...b.static_resources.clusters[0], connect_timeout: "1s" }),
            "static_resources.clusters[3].name",
            'duplicate cluster name "limen_nextjs"',
        ],
        [
            "a listener on a host name",
            (b) => (httpsListener(b).address.socket_address.address = "frontend.internal"),
            "static_resources.listeners[1].address.socket_address.address",
            "malformed IP address",
        ],
        ["a route timeout without its unit", (b) => (limenRoute(b).route.timeout = "60"), `${LIMEN_ROUTE}.route.timeout`, 'invalid google.protobuf.Duration value "60"'],
        // The render bug the previous checker was shown to catch: `port` for `port_value`.
        [
            "socket_address.port instead of port_value",
            (b) => {
                delete backendSocket(b).port_value;
                backendSocket(b).port = 18443;
            },
            `${BACKEND_ENDPOINT}.port`,
            'unknown field "port"',
        ],
    ])("refuses %s", (_name, mutate, field, says) => {
        const bootstrap = renderedProd();
        mutate(bootstrap);
        expect(envoyProblems(bootstrap)).toEqual([problemAt(field, says)]);
    });

    it("names the YAML line of the problem", () => {
        const text = renderEnvoy(envoySpec(prod)).replace("port_value: 18443", "port_value: 70000");
        const line = text.split("\n").findIndex((l) => l.includes("port_value: 70000")) + 1;
        expect(envoyProblems(text)).toEqual([`${BACKEND_ENDPOINT}.port_value: value must be less than or equal to 65535 (line ${line})`]);
    });

    it("reads YAML as Envoy's yaml-cpp does: an unquoted on/yes/y is a bool, a quoted one a string", () => {
        const text = renderEnvoy(envoySpec(prod));
        expect(envoyProblems(text.replace("stat_prefix: ingress_https", "stat_prefix: on"))).toEqual([
            problemAt(`${HTTPS_HCM}.stat_prefix`, "invalid value for string field statPrefix: true"),
        ]);
        expect(envoyProblems(text.replace("stat_prefix: ingress_https", 'stat_prefix: "on"'))).toEqual([]);
    });

    it("the template itself is not loadable: yaml-cpp has no merge keys, so render/envoy.ts must expand them", () => {
        const template = readFileSync(path.join(repoRoot, "files", "envoy-bootstrap.yaml"), "utf8");
        expect(template).toContain("<<: *http_connection_manager");
        expect(envoyProblems(template)).toEqual([problemAt(HTTPS_HCM, 'missing "@type" field')]);
        expect(renderEnvoy(envoySpec(prod))).not.toMatch(/<<|&\w|\*\w/);
    });
});
