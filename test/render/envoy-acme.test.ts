import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { acmeResponderCluster, EnvoySpec, envoyClusterNames, renderEnvoy, renderSdsSecret, SdsCertificate } from "../../render/envoy";

/**
 * Envoy with certificates from an ACME client: the https listener takes them through SDS files (one
 * filter chain per certificate, picked by SNI) and port 80 lets HTTP-01 challenges through. These tests
 * read the rendered bootstrap back the way Envoy uses it; whether Envoy loads it is judged by
 * tools/envoy-check in test/render/envoy-api.tools.test.ts.
 */

type Json = Record<string, any>;

const fixture = (name: string) => readFileSync(path.join(__dirname, "..", "fixtures", name), "utf8");

/** The stack's certificates as the acme source names them (plan/ derives these from the config). */
const limen: SdsCertificate = { name: "limen", serverNames: ["limen.darc.kr"], sdsPath: "/etc/limen/envoy/sds/limen.yaml" };
const darc: SdsCertificate = { name: "darc", serverNames: ["darc.kr", "www.darc.kr"], sdsPath: "/etc/limen/envoy/sds/darc.yaml" };
const acmeChallenge = { address: "127.0.0.1", port: 8555 };

// The first is Pulumi.prod.yaml's, the second moves every
// port, takes IPv6 and two backend prefixes.
const filesProd: EnvoySpec = {
    httpPort: 80,
    httpsPort: 443,
    limenDomains: ["limen.darc.kr"],
    darcDomains: ["darc.kr", "www.darc.kr"],
    nextjs: { host: "127.0.0.1", port: 9444 },
    darc: { host: "127.0.0.1", port: 9445 },
    backend: { address: "10.0.0.100", port: 18443 },
    backendRoutePrefixes: [],
    tls: { mode: "files", certificateChainPath: "/etc/letsencrypt/live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" },
};
const filesPortsPrefixesIpv6: EnvoySpec = {
    httpPort: 8080,
    httpsPort: 8443,
    limenDomains: ["limen.example.org", "app.example.org"],
    darcDomains: ["darc.example.org"],
    nextjs: { host: "127.0.0.1", port: 9444 },
    darc: { host: "127.0.0.1", port: 9445 },
    backend: { address: "2001:db8::100", port: 18443 },
    backendRoutePrefixes: ["/api/agent", "/api/v2"],
    tls: { mode: "files", certificateChainPath: "/etc/limen/envoy/tls/fullchain.pem", privateKeyPath: "/etc/limen/envoy/tls/privkey.pem" },
};

/** Pulumi.prod.yaml's spec with SDS certificates and, unless `change` says otherwise, the ACME challenge. */
const sdsSpec = (certificates: SdsCertificate[], change: Partial<EnvoySpec> = { acmeChallenge }): EnvoySpec => ({
    ...filesProd,
    tls: { mode: "sds", certificates },
    ...change,
});

// ---- reading the rendered bootstrap back as Envoy uses it ------------------------------------------

const listenerOn = (bootstrap: Json, port: number): Json => {
    const found = bootstrap.static_resources.listeners.find((l: Json) => l.address.socket_address.port_value === port);
    if (!found) throw new Error(`no listener on port ${port}`);
    return found;
};

const managerOf = (chain: Json): Json => {
    const filter = chain.filters.find((f: Json) => f.name === "envoy.filters.network.http_connection_manager");
    if (!filter) throw new Error("the chain has no http_connection_manager");
    return filter.typed_config;
};

/** A virtual host's domain as Envoy matches it against the Host header: exact, `*.suffix`, `prefix*` or `*`. */
const domainMatches = (domain: string, host: string) =>
    domain === "*" || domain === host || (domain.startsWith("*") && host.endsWith(domain.slice(1))) || (domain.endsWith("*") && host.startsWith(domain.slice(0, -1)));

/**
 * Where a plain-HTTP request goes: the first virtual host whose domains take the Host, then its first
 * route whose match takes the path (Envoy tries routes in order). Only the matchers the renderer uses
 * are read; any other throws, so a new one cannot be silently misread.
 */
function httpRequest(bootstrap: Json, port: number, host: string, requestPath: string): { cluster: string } | { redirect: Json } | "404" {
    const manager = managerOf(listenerOn(bootstrap, port).filter_chains[0]);
    const virtualHost = manager.route_config.virtual_hosts.find((v: Json) => v.domains.some((d: string) => domainMatches(d, host)));
    if (!virtualHost) return "404";
    for (const route of virtualHost.routes as Json[]) {
        const keys = Object.keys(route.match);
        if (keys.some((k) => k !== "prefix" && k !== "path")) throw new Error(`a matcher this reader does not know: ${keys.join(", ")}`);
        const taken = route.match.prefix !== undefined ? requestPath.startsWith(route.match.prefix) : requestPath === route.match.path;
        if (!taken) continue;
        if (route.route) return { cluster: route.route.cluster };
        if (route.redirect) return { redirect: route.redirect };
        throw new Error(`a route action this reader does not know: ${Object.keys(route).join(", ")}`);
    }
    return "404";
}

/**
 * The filter chain Envoy gives a TLS connection (filter_chain_manager_impl.cc, findFilterChainForServerName):
 * an exact server name, then the longest `*.` wildcard, then a chain without server names, else the
 * default chain. Without the TLS inspector Envoy sees no SNI at all.
 */
function chainForSni(listener: Json, sni: string | undefined): Json | undefined {
    const inspected = (listener.listener_filters ?? []).some((f: Json) => f.name === "envoy.filters.listener.tls_inspector");
    const name = inspected ? sni?.toLowerCase() : undefined;
    const chains = listener.filter_chains as Json[];
    const names = (chain: Json): string[] => (chain.filter_chain_match?.server_names ?? []).map((n: string) => n.toLowerCase());
    if (name) {
        const exact = chains.find((chain) => names(chain).includes(name));
        if (exact) return exact;
        for (let dot = name.indexOf(".", 1); dot !== -1 && dot < name.length - 1; dot = name.indexOf(".", dot + 1)) {
            const wildcard = chains.find((chain) => names(chain).includes(`*${name.slice(dot)}`));
            if (wildcard) return wildcard;
        }
    }
    return chains.find((chain) => names(chain).length === 0) ?? listener.default_filter_chain;
}

/** The SDS secret (and its file) a TLS client with this SNI is served. */
function certificateForSni(bootstrap: Json, port: number, sni: string | undefined): { name: string; path: string } | undefined {
    const chain = chainForSni(listenerOn(bootstrap, port), sni);
    if (!chain) return undefined;
    const configs = chain.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs as Json[];
    expect(configs).toHaveLength(1);
    return { name: configs[0]!.name, path: configs[0]!.sds_config.path_config_source.path };
}

const clusterAddress = (bootstrap: Json, name: string): Json =>
    bootstrap.static_resources.clusters.find((c: Json) => c.name === name)?.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;

// ---- the files mode stays as deployed ----------------------------------------------------------

describe("mode files without an ACME challenge renders the reviewed text, byte for byte", () => {
    // plan/ hashes this text into the container's label, so any change restarts Envoy on every stack:
    // a change here is made on purpose, and the fixtures rendered again with it.
    it.each<[string, EnvoySpec]>([
        ["envoy-files-prod.yaml", filesProd],
        ["envoy-files-ports-prefixes-ipv6.yaml", filesPortsPrefixesIpv6],
    ])("%s", (file, spec) => {
        expect(renderEnvoy(spec)).toBe(fixture(file));
        expect(renderEnvoy({ ...spec, acmeChallenge: undefined })).toBe(fixture(file));
    });

    it("an ACME challenge changes only the port-80 routes and adds its cluster", () => {
        const plain: Json = parse(renderEnvoy(filesProd));
        const withChallenge: Json = parse(renderEnvoy({ ...filesProd, acmeChallenge }));
        const [plainHttp, plainHttps] = plain.static_resources.listeners;
        const [http, https] = withChallenge.static_resources.listeners;
        expect(https).toEqual(plainHttps);
        expect(withChallenge.static_resources.clusters.slice(0, 3)).toEqual(plain.static_resources.clusters);
        expect(withChallenge.static_resources.clusters.map((c: Json) => c.name)).toEqual([...Object.values(envoyClusterNames), acmeResponderCluster]);
        const routes = (listener: Json) => managerOf(listener.filter_chains[0]).route_config.virtual_hosts[0].routes;
        expect(routes(http).slice(1)).toEqual(routes(plainHttp));
    });
});

// ---- port 80: challenges to the ACME client, everything else to https ---------------------------

describe("port 80, read back route by route", () => {
    const withChallenge: Json = parse(renderEnvoy(sdsSpec([limen, darc])));
    const redirect = { redirect: { https_redirect: true } };

    it.each<[string, string, ReturnType<typeof httpRequest>]>([
        ["limen.darc.kr", "/.well-known/acme-challenge/abc", { cluster: acmeResponderCluster }],
        ["www.darc.kr", "/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", { cluster: acmeResponderCluster }],
        ["limen.darc.kr", "/", redirect],
        ["limen.darc.kr", "/login", redirect],
        ["darc.kr", "/.well-known/other", redirect],
        ["darc.kr", "/.well-known/acme-challenge", redirect],
        ["darc.kr", "/acme-challenge/abc", redirect],
    ])("Host %s, GET %s", (host, requestPath, expected) => {
        expect(httpRequest(withChallenge, 80, host, requestPath)).toEqual(expected);
    });

    it("the challenge cluster is the ACME client's responder, STATIC like the others", () => {
        const cluster = withChallenge.static_resources.clusters.find((c: Json) => c.name === acmeResponderCluster);
        expect(cluster.type).toBe("STATIC");
        expect(clusterAddress(withChallenge, acmeResponderCluster)).toEqual({ address: "127.0.0.1", port_value: 8555 });
    });

    it("without an ACME challenge a challenge is redirected like any path, and no responder cluster exists", () => {
        const without: Json = parse(renderEnvoy(sdsSpec([limen, darc], {})));
        expect(httpRequest(without, 80, "limen.darc.kr", "/.well-known/acme-challenge/abc")).toEqual(redirect);
        expect(clusterAddress(without, acmeResponderCluster)).toBeUndefined();
    });

    it("on another https port the redirect names it", () => {
        const bootstrap: Json = parse(renderEnvoy(sdsSpec([limen], { acmeChallenge, httpPort: 8080, httpsPort: 8443 })));
        expect(httpRequest(bootstrap, 8080, "limen.darc.kr", "/login")).toEqual({ redirect: { https_redirect: true, port_redirect: 8443 } });
        expect(httpRequest(bootstrap, 8080, "limen.darc.kr", "/.well-known/acme-challenge/abc")).toEqual({ cluster: acmeResponderCluster });
    });
});

// ---- the https listener: which certificate a client gets ----------------------------------------

describe("https, read back: the SDS secret each SNI is served", () => {
    const two: Json = parse(renderEnvoy(sdsSpec([limen, darc])));
    const one: Json = parse(renderEnvoy(sdsSpec([limen])));

    it.each<[string | undefined, string]>([
        ["limen.darc.kr", "limen"],
        ["darc.kr", "darc"],
        ["www.darc.kr", "darc"],
        // Clients send SNI in any case; Envoy compares it in lower case.
        ["WWW.Darc.KR", "darc"],
        [undefined, "limen"],
        ["other.example.org", "limen"],
    ])("two certificates, SNI %s: %s", (sni, secret) => {
        expect(certificateForSni(two, 443, sni)?.name).toBe(secret);
    });

    it.each<[string | undefined]>([["limen.darc.kr"], ["www.darc.kr"], [undefined]])("one certificate, SNI %s: limen", (sni) => {
        expect(certificateForSni(one, 443, sni)).toEqual({ name: "limen", path: "/etc/limen/envoy/sds/limen.yaml" });
    });

    it("each secret is read from its SDS file, reloaded on a move into that file's directory", () => {
        const chain = chainForSni(listenerOn(two, 443), "darc.kr");
        expect(chain?.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs).toEqual([
            {
                name: "darc",
                sds_config: {
                    path_config_source: { path: "/etc/limen/envoy/sds/darc.yaml", watched_directory: { path: "/etc/limen/envoy/sds" } },
                    resource_api_version: "V3",
                },
            },
        ]);
    });

    it("every chain is the files mode's chain with only the certificate source changed", () => {
        const filesChain: Json = parse(renderEnvoy({ ...filesProd, acmeChallenge })).static_resources.listeners[1].filter_chains[0];
        const https = listenerOn(two, 443);
        for (const chain of [...https.filter_chains, https.default_filter_chain] as Json[]) {
            expect(chain.filters).toEqual(filesChain.filters);
            const { tls_certificate_sds_secret_configs: sds, ...common } = chain.transport_socket.typed_config.common_tls_context;
            const { tls_certificates: files, ...filesCommon } = filesChain.transport_socket.typed_config.common_tls_context;
            expect(common).toEqual(filesCommon);
            expect(sds).toHaveLength(1);
            expect(files).toHaveLength(1);
        }
        expect(listenerOn(one, 443).filter_chains).toHaveLength(1);
        expect(listenerOn(one, 443).default_filter_chain).toBeUndefined();
    });

    it("without the TLS inspector every client would get the default certificate (the reader models Envoy, and can fail)", () => {
        const blind = structuredClone(listenerOn(two, 443));
        delete blind.listener_filters;
        expect(certificateForSni({ static_resources: { listeners: [blind] } }, 443, "www.darc.kr")?.name).toBe("limen");
    });

    it.each<[string, SdsCertificate[], RegExp]>([
        ["no certificate", [], /needs at least one certificate/],
        ["two certificates with one name", [limen, { ...darc, name: "limen" }], /two SDS certificates are named "limen"/],
        ["one host name in two certificates", [limen, { ...darc, serverNames: ["darc.kr", "LIMEN.darc.kr"] }], /LIMEN\.darc\.kr is served by both limen and darc/],
        ["a certificate without host names beside another", [limen, { ...darc, serverNames: [] }], /darc needs server names/],
        ["a relative SDS path", [{ ...limen, sdsPath: "sds/limen.yaml" }], /not absolute/],
    ])("refuses %s", (_label, certificates, message) => {
        expect(() => renderEnvoy(sdsSpec(certificates))).toThrow(message);
    });
});

// ---- the SDS file ------------------------------------------------------------------------------

describe("renderSdsSecret", () => {
    const secret = {
        name: "limen",
        certificateChainPath: "/etc/limen/acme/limen/current/fullchain.pem",
        privateKeyPath: "/etc/limen/acme/limen/current/privkey.pem",
        watchedDirectory: "/etc/limen/acme/limen",
    };

    it("is a DiscoveryResponse with the one Secret, its pair by file, watched where `current` is swapped", () => {
        const text = renderSdsSecret(secret);
        expect(text.split("\n")[0]).toMatch(/^# Rendered by limen-infra\b.*; replaced by `pulumi up`\.$/);
        expect(parse(text)).toEqual({
            resources: [
                {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                    name: "limen",
                    tls_certificate: {
                        certificate_chain: { filename: "/etc/limen/acme/limen/current/fullchain.pem" },
                        private_key: { filename: "/etc/limen/acme/limen/current/privkey.pem" },
                        watched_directory: { path: "/etc/limen/acme/limen" },
                    },
                },
            ],
        });
    });

    it.each<[string, Partial<typeof secret>]>([
        ["a key outside the watched directory", { privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }],
        ["a chain beside the watched directory", { certificateChainPath: "/etc/limen/acme/limen-old/fullchain.pem" }],
        ["a relative chain", { certificateChainPath: "current/fullchain.pem" }],
    ])("refuses %s: a swap there would never reload it", (_label, change) => {
        expect(() => renderSdsSecret({ ...secret, ...change })).toThrow(/is not an absolute path inside the watched directory/);
    });
});
