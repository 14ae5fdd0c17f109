/** Certificates from the ACME client (render/envoy.ts's SDS files), judged by Envoy's validators; a corpus of broken ones. */
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { envoySpec } from "../../plan/envoy";
import { acmeResponderCluster, EnvoySpec, renderEnvoy, renderSdsSecret, SdsCertificate } from "../../render/envoy";
import { envoyProblems, sdsProblems, problemAt, Json, prod, httpsListener, useEnvoyChecker } from "../support/envoy-check";

useEnvoyChecker();

// ---- certificates from the ACME client: SDS files, SNI chains and the port-80 challenge route ------

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
