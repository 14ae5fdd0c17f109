/** tools/envoy-check itself: the proto JSON and validation rules Envoy applies, on a minimal bootstrap. */
import { describe, expect, it } from "vitest";
import { envoyProblems, problemAt, useEnvoyChecker } from "../support/envoy-check";

useEnvoyChecker();

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
