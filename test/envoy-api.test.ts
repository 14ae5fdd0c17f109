import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import { envoySpec } from "../plan/envoy";
import { acmeResponderCluster, EnvoySpec, renderEnvoy, renderSdsSecret, SdsCertificate } from "../render/envoy";
import { otherRawConfig, prodRawConfig, repoRoot, withOverride } from "./support/fixtures";

/**
 * Envoy's bootstrap judged by Envoy's own validators: tools/envoy-check, a small Go program on
 * go-control-plane v1.38.0 (the pinned Envoy image's version), loads the YAML as Envoy does (YAML to
 * proto JSON with yaml-cpp's scalar rules, unknown fields refused, every typed_config resolved by its
 * type URL), runs the protoc-gen-validate validators go-control-plane generates on the bootstrap and
 * on each extension config, then the cross-reference checks Envoy makes at load. It prints "ok", or
 * one line per problem: `<field path>: <problem> (line N)`.
 */
const buildScript = path.join(repoRoot, "tools", "envoy-check", "build.sh");
let checker = "";

beforeAll(() => {
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
}, 900_000);

/** The checker's verdict: [] when Envoy would load the bootstrap, else one line per problem. */
function envoyProblems(bootstrap: string | object): string[] {
    return checkerVerdict([], bootstrap);
}

/** The checker's verdict on an SDS file (`--sds`), with the name the bootstrap's SdsSecretConfig gives its Secret. */
function sdsProblems(file: string | object, secretName: string): string[] {
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

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A problem line about exactly `field` (a path from the document's root) whose message contains `says`. */
const problemAt = (field: string, says: string) => expect.stringMatching(new RegExp(`^${escape(field)}: .*${escape(says)}`));

type Json = Record<string, any>;

// ---- (a) every bootstrap the tests render -------------------------------------------------------

const prod = parseConfig(prodRawConfig());
const other = parseConfig(otherRawConfig());
const renderFor = (raw: Record<string, string>) => renderEnvoy(envoySpec(parseConfig(raw)));
/** Pulumi.prod.yaml with the certificates certbot keeps in live/ named as host files, as before the acme source. */
const prodHostFilesRaw = () =>
    withOverride(
        prodRawConfig(),
        "tls",
        JSON.stringify({ source: "host-files", certificateChainPath: "/etc/letsencrypt/live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }),
    );

/** The configs of the test tables (fixtures.ts) and the variants the other tests render Envoy with. */
const rendered: [string, () => string][] = [
    ["prod (Pulumi.prod.yaml)", () => renderEnvoy(envoySpec(prod))],
    ["prod with certificates from host files (certbot's live/)", () => renderFor(prodHostFilesRaw())],
    ["prod with one ACME certificate for every domain", () => renderFor(withOverride(prodRawConfig(), "tls", { certificates: "single" }))],
    ["other (documentation addresses, IPv6 clients, TLS from config, a backend route prefix)", () => renderEnvoy(envoySpec(other))],
    ["prod with another LIMEN domain (components.test)", () => renderFor(withOverride(prodRawConfig(), "domains", { limen: ["app.darc.kr"] }))],
    [
        "prod on ports 8080/8443 with two backend prefixes (the redirect names the port)",
        () => renderFor(withOverride(prodRawConfig(), "envoy", { httpPort: 8080, httpsPort: 8443, backendRoutePrefixes: ["/api/agent", "/api/v2"] })),
    ],
    ["prod, backend cluster on the external port (policy.test)", () => renderEnvoy({ ...envoySpec(prod), backend: { address: "10.0.0.100", port: 8443 } })],
    ["prod, backend cluster on another address (policy.test)", () => renderEnvoy({ ...envoySpec(prod), backend: { address: "10.0.0.101", port: 18443 } })],
    ["other, an IPv6 backend in a long spelling (policy.test)", () => renderEnvoy({ ...envoySpec(other), backend: { address: "2001:DB8:0:0::100", port: 18443 } })],
    // Loopback backends are the policy pack's to refuse (policy.test); as IP literals Envoy loads them.
    ...["127.0.0.1", "127.0.0.53", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "0.0.0.0", "::"].map((address): [string, () => string] => [
        `prod, backend ${address} (policy.test)`,
        () => renderEnvoy({ ...envoySpec(prod), backend: { address, port: 18443 } }),
    ]),
];

describe("every rendered bootstrap loads, judged by Envoy's validators (go-control-plane v1.38.0)", () => {
    it("the validators are those of the Envoy version the stack runs", () => {
        const tag = /^envoyproxy\/envoy:(v\d+\.\d+)\.\d+@/.exec(prod.envoy.image)?.[1];
        const version = spawnSync(checker, ["--version"], { encoding: "utf8" }).stdout;
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

// ---- (b) a corpus of broken bootstraps, each derived from the rendered prod one (host files) ----

const HTTPS_HCM = "static_resources.listeners[1].filter_chains[0].filters[0].typed_config";
const LIMEN_ROUTE = `${HTTPS_HCM}.route_config.virtual_hosts[0].routes[0]`;
const HTTPS_TLS = "static_resources.listeners[1].filter_chains[0].transport_socket.typed_config.common_tls_context";
const BACKEND_ENDPOINT = "static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address";

// The TLS fields below are those of certificates named in the bootstrap; (c) breaks the SDS ones.
const renderedProd = (): Json => parse(renderFor(prodHostFilesRaw()));
const httpsListener = (b: Json): Json => b.static_resources.listeners[1];
const httpsManager = (b: Json): Json => httpsListener(b).filter_chains[0].filters[0].typed_config;
const limenRoute = (b: Json): Json => httpsManager(b).route_config.virtual_hosts[0].routes[0];
const httpsTls = (b: Json): Json => httpsListener(b).filter_chains[0].transport_socket.typed_config.common_tls_context;
const backendSocket = (b: Json): Json => b.static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;

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
        ["duplicate listener names", (b) => (httpsListener(b).name = "http"), "static_resources.listeners[1].name", 'duplicate listener name "http"'],
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

// ---- (c) certificates from the ACME client: SDS files, SNI chains and the port-80 challenge route --

/** The stack's certificates as the acme source names them, each with the SDS file renderSdsSecret writes. */
const sdsCertificates = {
    limen: { name: "limen", serverNames: ["limen.darc.kr"], sdsPath: "/etc/limen/envoy/sds/limen.yaml" },
    darc: { name: "darc", serverNames: ["darc.kr", "www.darc.kr"], sdsPath: "/etc/limen/envoy/sds/darc.yaml" },
} satisfies Record<string, SdsCertificate>;
const sdsFileOf = (name: string) =>
    renderSdsSecret({
        name,
        certificateChainPath: `/etc/limen/acme/${name}/current/fullchain.pem`,
        privateKeyPath: `/etc/limen/acme/${name}/current/privkey.pem`,
        watchedDirectory: `/etc/limen/acme/${name}`,
    });
const acmeSpec = (certificates: SdsCertificate[]): EnvoySpec => ({
    ...envoySpec(prod),
    tls: { mode: "sds", certificates },
    acmeChallenge: { address: "127.0.0.1", port: 8555 },
});

/** Every SdsSecretConfig of the bootstrap: the secret's name and the SDS file it is read from. */
function sdsReferences(bootstrap: Json): { name: string; path: string }[] {
    const https = bootstrap.static_resources.listeners[1];
    return [...https.filter_chains, ...(https.default_filter_chain ? [https.default_filter_chain] : [])].flatMap((chain: Json) =>
        chain.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs.map((c: Json) => ({
            name: c.name,
            path: c.sds_config.path_config_source.path,
        })),
    );
}

const SNI_CHAIN = (i: number) => `static_resources.listeners[1].filter_chains[${i}]`;
const ACME_ROUTE = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]";
const renderedAcme = (): Json => parse(renderEnvoy(acmeSpec([sdsCertificates.limen, sdsCertificates.darc])));
const sniChain = (b: Json, i: number): Json => httpsListener(b).filter_chains[i];
const acmeRoute = (b: Json): Json => b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];

describe("certificates from the ACME client load, judged by Envoy's validators", () => {
    it.each<[string, SdsCertificate[]]>([
        ["one certificate (limen)", [sdsCertificates.limen]],
        ["two certificates (limen, darc)", [sdsCertificates.limen, sdsCertificates.darc]],
    ])("%s: the bootstrap, and each SDS file it reads under the name it reads it by", (_label, certificates) => {
        const bootstrap = renderEnvoy(acmeSpec(certificates));
        expect(envoyProblems(bootstrap)).toEqual([]);
        const references = sdsReferences(parse(bootstrap));
        // The default chain reads the first certificate again.
        expect(new Set(references.map((r) => `${r.name} ${r.path}`))).toEqual(new Set(certificates.map((c) => `${c.name} ${c.sdsPath}`)));
        for (const { name } of references) expect(sdsProblems(sdsFileOf(name), name)).toEqual([]);
    });

    it("an ACME challenge with files from the bootstrap loads too", () => {
        expect(envoyProblems(renderEnvoy({ ...envoySpec(prod), acmeChallenge: { address: "127.0.0.1", port: 8555 } }))).toEqual([]);
    });
});

describe("a corpus of broken SDS files and bootstraps, each refused with the field named", () => {
    it.each<[string, (file: Json) => void, string, string]>([
        [
            "a Secret without a certificate",
            (file) => {
                delete file.resources[0].tls_certificate;
            },
            "resources[0]",
            "holds nothing, not a tls_certificate",
        ],
        [
            "an unknown field",
            (file) => (file.resources[0].tls_certificate.watched_directory.pathh = "/etc/limen/acme"),
            "resources[0].tls_certificate.watched_directory.pathh",
            'unknown field "pathh"',
        ],
        ["a Secret read by another name", (file) => (file.resources[0].name = "darc"), "resources[0].name", 'Unexpected SDS secret (expecting "limen"): "darc"'],
        [
            "a key inline",
            (file) => (file.resources[0].tls_certificate.private_key = { inline_string: "-----BEGIN PRIVATE KEY-----" }),
            "resources[0].tls_certificate.private_key",
            "not a filename",
        ],
    ])("SDS file: refuses %s", (_name, mutate, field, says) => {
        const file: Json = parse(sdsFileOf("limen"));
        mutate(file);
        expect(sdsProblems(file, "limen")).toEqual([problemAt(field, says)]);
    });

    it.each<[string, (b: Json) => void, string, string]>([
        [
            "two filter chains with the same server_names",
            (b) => (sniChain(b, 1).filter_chain_match.server_names = ["limen.darc.kr"]),
            `${SNI_CHAIN(1)}.filter_chain_match`,
            "the same matching rules defined as filter_chains[0]",
        ],
        [
            "two filter chains sharing one server name",
            (b) => sniChain(b, 1).filter_chain_match.server_names.push("limen.darc.kr"),
            `${SNI_CHAIN(1)}.filter_chain_match`,
            'overlapping matching rules are defined: this one and filter_chains[0] both match server name "limen.darc.kr"',
        ],
        [
            "server names without the TLS inspector",
            (b) => delete httpsListener(b).listener_filters,
            "static_resources.listeners[1].listener_filters",
            "needs the envoy.filters.listener.tls_inspector listener filter",
        ],
        [
            "the challenge route to a missing cluster",
            (b) => (acmeRoute(b).route.cluster = `${acmeResponderCluster}_v2`),
            `${ACME_ROUTE}.route.cluster`,
            `route: unknown cluster "${acmeResponderCluster}_v2"`,
        ],
        ["the challenge route without its cluster", (b) => b.static_resources.clusters.pop(), `${ACME_ROUTE}.route.cluster`, `route: unknown cluster "${acmeResponderCluster}"`],
        [
            "an SDS config without its source",
            (b) => delete sniChain(b, 0).transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config,
            `${SNI_CHAIN(0)}.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name`,
            'unknown static secret "limen"',
        ],
    ])("bootstrap: refuses %s", (_name, mutate, field, says) => {
        const bootstrap = renderedAcme();
        mutate(bootstrap);
        expect(envoyProblems(bootstrap)).toEqual([problemAt(field, says)]);
    });
});

// ---- the rules of the previous hand-written checker, on the smallest bootstrap shaped like ours -----

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/** The smallest bootstrap shaped like ours: admin on loopback, one HTTP listener, one static upstream. */
function minimalBootstrap() {
    return {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } },
        static_resources: {
            listeners: [
                {
                    name: "http",
                    address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
                    filter_chains: [
                        {
                            filters: [
                                {
                                    name: "envoy.filters.network.http_connection_manager",
                                    typed_config: {
                                        "@type": HCM,
                                        stat_prefix: "ingress_http",
                                        route_config: {
                                            name: "local",
                                            virtual_hosts: [{ name: "backend", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }],
                                        },
                                        http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
                                    },
                                },
                            ],
                        },
                    ],
                },
            ],
            clusters: [
                {
                    name: "backend",
                    type: "STATIC",
                    connect_timeout: "5s",
                    load_assignment: {
                        cluster_name: "backend",
                        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "192.0.2.100", port_value: 18443 } } } }] }],
                    },
                },
            ],
        },
    };
}

type Bootstrap = ReturnType<typeof minimalBootstrap>;
type Hcm = Bootstrap["static_resources"]["listeners"][number]["filter_chains"][number]["filters"][number]["typed_config"];

const listener = (b: Bootstrap) => b.static_resources.listeners[0]!;
const hcm = (b: Bootstrap): Hcm & Record<string, unknown> => listener(b).filter_chains[0]!.filters[0]!.typed_config;
const cluster = (b: Bootstrap): Bootstrap["static_resources"]["clusters"][number] & Record<string, unknown> => b.static_resources.clusters[0]!;
const upstreamSocket = (b: Bootstrap): Record<string, unknown> => cluster(b).load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address;

const HCM_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const UPSTREAM_PATH = "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address";

describe("the proto JSON and validation rules Envoy applies, on a minimal bootstrap", () => {
    it("accepts the minimal edge bootstrap", () => {
        expect(envoyProblems(minimalBootstrap())).toEqual([]);
    });

    it("accepts lowerCamelCase json names, wrappers as scalars, 64-bit strings, enum numbers and lower-case names, TLS and access logs", () => {
        const b = minimalBootstrap();
        const c = cluster(b);
        c["per_connection_buffer_limit_bytes"] = 32768;
        c["lb_policy"] = 0;
        c["dns_lookup_family"] = "v4_only"; // Envoy parses enum names case-insensitively
        c["transport_socket"] = {
            name: "envoy.transport_sockets.tls",
            typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                sni: "backend.internal",
                common_tls_context: { validation_context: { trusted_ca: { filename: "/etc/envoy/ca.pem" } } },
            },
        };
        const h = hcm(b);
        h["stream_idle_timeout"] = "0.5s";
        h["commonHttpProtocolOptions"] = { idleTimeout: "300s", max_requests_per_connection: "1000" };
        h["access_log"] = [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog" } }];
        (b as Record<string, unknown>)["stats_flush_interval"] = "10s";
        (b as Record<string, unknown>)["node"] = { id: "edge", metadata: { any: ["json", 1, { nested: true }] } };
        expect(envoyProblems(b)).toEqual([]);
    });

    it.each<[string, (b: Bootstrap) => void, string, string]>([
        ["an unknown top-level field", (b) => Object.assign(b, { static_resource: {} }), "static_resource", 'unknown field "static_resource"'],
        ["an unknown field inside typed_config", (b) => Object.assign(hcm(b), { stat_prefixx: "x" }), `${HCM_PATH}.stat_prefixx`, 'unknown field "stat_prefixx"'],
        [
            "an unknown field in a repeated message inside typed_config",
            (b) => Object.assign(hcm(b).route_config.virtual_hosts[0]!, { domain: ["*"] }),
            `${HCM_PATH}.route_config.virtual_hosts[0].domain`,
            'unknown field "domain"',
        ],
        ["a string where a uint32 belongs", (b) => (upstreamSocket(b)["port_value"] = "abc"), `${UPSTREAM_PATH}.port_value`, 'invalid value for uint32 field portValue: "abc"'],
        [
            "a string where a message belongs",
            (b) => Object.assign(listener(b), { address: "0.0.0.0:8080" }),
            "static_resources.listeners[0].address",
            'unexpected token "0.0.0.0:8080"',
        ],
        [
            "an unknown @type",
            (b) => (hcm(b)["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManage"),
            `${HCM_PATH}.@type`,
            'unable to resolve "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManage"',
        ],
        ["a negative uint32", (b) => (upstreamSocket(b)["port_value"] = -1), `${UPSTREAM_PATH}.port_value`, "invalid value for uint32 field portValue: -1"],
        [
            "a bool given as a string",
            (b) => Object.assign(upstreamSocket(b), { ipv4_compat: "true" }),
            `${UPSTREAM_PATH}.ipv4_compat`,
            'invalid value for bool field ipv4Compat: "true"',
        ],
        ["an enum name the enum does not have", (b) => (cluster(b).type = "STATIK"), "static_resources.clusters[0].type", 'invalid value for enum field type: "STATIK"'],
        [
            "two members of one oneof",
            (b) => Object.assign(cluster(b), { cluster_type: { name: "envoy.clusters.aggregate" } }),
            "static_resources.clusters[0].cluster_type",
            "oneof envoy.config.cluster.v3.Cluster.cluster_discovery_type is already set",
        ],
        ["a duration without its unit", (b) => (cluster(b).connect_timeout = "5"), "static_resources.clusters[0].connect_timeout", 'invalid google.protobuf.Duration value "5"'],
        [
            "a route without its required match (PGV message.required)",
            (b) => delete (hcm(b).route_config.virtual_hosts[0]!.routes[0]! as Partial<{ match: unknown }>).match,
            `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].match`,
            "value is required",
        ],
        [
            "a filter without a name (PGV string.min_len)",
            (b) => delete (listener(b).filter_chains[0]!.filters[0]! as Partial<{ name: string }>).name,
            "static_resources.listeners[0].filter_chains[0].filters[0].name",
            "value length must be at least 1 runes",
        ],
        ["a zero connect_timeout (PGV duration.gt)", (b) => (cluster(b).connect_timeout = "0s"), "static_resources.clusters[0].connect_timeout", "value must be greater than 0s"],
        [
            "an address oneof left empty (PGV oneof required)",
            (b) => delete (upstreamSocket(b) as Partial<{ port_value: number }>).port_value,
            UPSTREAM_PATH,
            "one of port_value, named_port is required",
        ],
        [
            "an empty stat_prefix inside typed_config (PGV runs on extension configs too)",
            (b) => (hcm(b).stat_prefix = ""),
            `${HCM_PATH}.stat_prefix`,
            "value length must be at least 1 runes",
        ],
    ])("rejects %s", (_name, mutate, field, says) => {
        const b = minimalBootstrap();
        mutate(b);
        expect(envoyProblems(b)).toEqual([problemAt(field, says)]);
    });

    it("reports every problem, not only the first", () => {
        const b = minimalBootstrap();
        Object.assign(b, { bogus: 1 });
        upstreamSocket(b)["port_value"] = "abc";
        // In document order: `bogus` was added last.
        expect(envoyProblems(b)).toEqual([
            problemAt(`${UPSTREAM_PATH}.port_value`, 'invalid value for uint32 field portValue: "abc"'),
            problemAt("bogus", 'unknown field "bogus"'),
        ]);
    });

    it("reports every validation problem, in extension configs too", () => {
        const b = minimalBootstrap();
        cluster(b).connect_timeout = "0s";
        hcm(b).stat_prefix = "";
        expect(envoyProblems(b)).toEqual([
            problemAt("static_resources.clusters[0].connect_timeout", "value must be greater than 0s"),
            problemAt(`${HCM_PATH}.stat_prefix`, "value length must be at least 1 runes"),
        ]);
    });

    it("checks a TypedStruct's value against the type it names", () => {
        const b = minimalBootstrap();
        hcm(b).http_filters[0]!.typed_config = {
            "@type": "type.googleapis.com/xds.type.v3.TypedStruct",
            type_url: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            value: { suppress_envoy_headers: true, no_such_field: 1 },
        } as unknown as { "@type": string };
        expect(envoyProblems(b)).toEqual([problemAt(`${HCM_PATH}.http_filters[0].typed_config.value.no_such_field`, 'unknown field "no_such_field"')]);
    });
});
