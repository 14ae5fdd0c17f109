/** Envoy's bootstrap (render/envoy.ts), read back as rendered. */
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { envoySpec } from "../../plan/envoy";
import { envoyClusterNames, renderDiscoveryResponse, renderEnvoy, renderEnvoyBootstrap, renderEnvoyResources } from "../../render/envoy";
import { otherRawConfig, prodRawConfig, withOverride } from "../support/fixtures";

const prod = parseConfig(prodRawConfig());
const other = parseConfig(otherRawConfig());
/** Pulumi.prod.yaml with the certificates certbot keeps in live/ named as host files, as before the acme source. */
const prodHostFiles = parseConfig(
    withOverride(
        prodRawConfig(),
        "tls",
        JSON.stringify({ source: "host-files", certificateChainPath: "/etc/letsencrypt/live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }),
    ),
);

// Whether Envoy loads the rendered bootstrap is judged by Envoy's own validators in
// test/render/envoy-api.tools.test.ts (tools/envoy-check); these tests read what the render says.
describe("Envoy bootstrap, as rendered", () => {
    it("pins the backend cluster to the internal address and port, written into the file", () => {
        const text = renderEnvoy(envoySpec(prod));
        const bootstrap = parse(text);
        const backend = bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === envoyClusterNames.backend);
        expect(backend.type).toBe("STATIC");
        expect(backend.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: "10.0.0.100", port_value: 18443 });
        expect(text).not.toMatch(/\$\{|environment_variable|envoy\.resource_monitors\.env/);
    });

    it("routes LIMEN domains to 127.0.0.1:9444, darc.kr to 127.0.0.1:9445, configured prefixes to the backend", () => {
        const bootstrap = parse(renderEnvoy(envoySpec(other)));
        const [http, https] = bootstrap.static_resources.listeners;
        const hosts = https.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts;
        expect(hosts.map((h: { name: string; domains: string[] }) => [h.name, h.domains])).toEqual([
            ["limen", ["limen.example.org"]],
            ["darc", ["darc.example.org"]],
        ]);
        expect(hosts[0].routes.map((r: { match: { prefix: string }; route: { cluster: string } }) => [r.match.prefix, r.route.cluster])).toEqual([
            ["/api/agent", "limen_backend"],
            ["/", "limen_nextjs"],
        ]);
        const addressOf = (name: string) =>
            bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === name).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
        expect(addressOf("limen_nextjs")).toEqual({ address: "127.0.0.1", port_value: 9444 });
        expect(addressOf("darc_site")).toEqual({ address: "127.0.0.1", port_value: 9445 });
        expect(http.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].redirect).toEqual({ https_redirect: true });
    });

    it("follows the edge-proxy hardening guide and keeps admin on a root-only unix socket, no port; host files are named in the bootstrap", () => {
        const bootstrap = parse(renderEnvoy(envoySpec(prodHostFiles)));
        expect(bootstrap.admin.address).toEqual({ pipe: { path: "/run/limen-envoy/admin.sock", mode: 0o600 } });
        for (const listener of bootstrap.static_resources.listeners) {
            // The release's standby binds the same ports beside the serving container (plan/envoy.ts).
            expect(listener.enable_reuse_port).toBe(true);
            const manager = listener.filter_chains[0].filters[0].typed_config;
            expect(manager.use_remote_address).toBe(true);
            expect(manager.common_http_protocol_options.headers_with_underscores_action).toBe("REJECT_REQUEST");
            expect(manager.request_timeout).toBe("300s");
            expect(manager.stream_idle_timeout).toBe("300s");
            expect(listener.per_connection_buffer_limit_bytes).toBe(32768);
        }
        for (const cluster of bootstrap.static_resources.clusters) expect(cluster.per_connection_buffer_limit_bytes).toBe(32768);
        const tls = bootstrap.static_resources.listeners[1].filter_chains[0].transport_socket.typed_config.common_tls_context;
        expect(tls.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
        expect(tls.tls_certificates[0]).toEqual({
            certificate_chain: { filename: "/etc/letsencrypt/live/limen/fullchain.pem" },
            private_key: { filename: "/etc/letsencrypt/live/limen/privkey.pem" },
        });
    });

    it("every listener writes Envoy's access log: one JSON line per request on stdout, naming the time, the site, the status, the upstream, the duration and the request id", () => {
        const bootstrap = parse(renderEnvoy(envoySpec(prodHostFiles)));
        for (const listener of bootstrap.static_resources.listeners) {
            const [log, ...more] = listener.filter_chains[0].filters[0].typed_config.access_log;
            expect(more).toEqual([]);
            expect(log.typed_config["@type"]).toBe("type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog");
            expect(log.typed_config.log_format.json_format).toMatchObject({
                time: "%START_TIME%",
                site: "%REQ(:AUTHORITY)%",
                status: "%RESPONSE_CODE%",
                upstream: "%UPSTREAM_CLUSTER%",
                duration_ms: "%DURATION%",
                request_id: "%REQ(X-REQUEST-ID)%",
            });
        }
    });

    it("the bootstrap the container runs is the same for every config: listeners and clusters come from the files it watches", () => {
        const bootstrap = parse(renderEnvoyBootstrap());
        expect(bootstrap.static_resources).toBeUndefined();
        expect(bootstrap.dynamic_resources).toEqual({
            lds_config: { resource_api_version: "V3", path_config_source: { path: "/etc/envoy/dynamic/lds.yaml", watched_directory: { path: "/etc/envoy/dynamic" } } },
            cds_config: { resource_api_version: "V3", path_config_source: { path: "/etc/envoy/dynamic/cds.yaml", watched_directory: { path: "/etc/envoy/dynamic" } } },
        });
        const spec = envoySpec(prodHostFiles);
        const { listeners, clusters } = renderEnvoyResources(spec);
        const lds = parse(renderDiscoveryResponse("lds", listeners).text);
        expect(lds.resources.map((r: { "@type": string; name: string }) => [r["@type"], r.name])).toEqual([
            ["type.googleapis.com/envoy.config.listener.v3.Listener", "http_80"],
            ["type.googleapis.com/envoy.config.listener.v3.Listener", "https_443"],
        ]);
        // The version names the content: another route is another version, the same content the same one.
        expect(renderDiscoveryResponse("lds", listeners).version).toBe(lds.version_info);
        expect(renderDiscoveryResponse("lds", renderEnvoyResources({ ...spec, backendRoutePrefixes: ["/api/agent"] }).listeners).version).not.toBe(lds.version_info);
        expect(parse(renderDiscoveryResponse("cds", clusters).text).resources.map((r: { name: string }) => r.name)).toEqual(["limen_nextjs", "darc_site", "limen_backend"]);
    });

    it("the candidate's bootstrap is the same config with its listeners on ports the kernel picks on 127.0.0.1", () => {
        const spec = envoySpec(prodHostFiles);
        const [served, candidate] = [renderEnvoy(spec), renderEnvoy(spec, "candidate")].map((text) => parse(text));
        expect(candidate.static_resources.listeners.map((l: { address: unknown }) => l.address)).toEqual([
            { socket_address: { address: "127.0.0.1", port_value: 0 } },
            { socket_address: { address: "127.0.0.1", port_value: 0 } },
        ]);
        const withoutAddresses = (b: any) => ({ ...b, static_resources: { ...b.static_resources, listeners: b.static_resources.listeners.map(({ address: _, ...l }: any) => l) } });
        expect(withoutAddresses(candidate)).toEqual(withoutAddresses(served));
        expect(served.static_resources.listeners[1].address).toEqual({ socket_address: { address: "::", port_value: 443, ipv4_compat: true } });
    });

    it("keeps the hardening and TLS settings on every https chain when certificates come through SDS", () => {
        const certificates = [
            { name: "limen", serverNames: ["limen.darc.kr"], sdsPath: "/etc/limen/envoy/sds/limen.yaml" },
            { name: "darc", serverNames: ["darc.kr", "www.darc.kr"], sdsPath: "/etc/limen/envoy/sds/darc.yaml" },
        ];
        const bootstrap = parse(renderEnvoy({ ...envoySpec(prod), tls: { mode: "sds", certificates }, acmeChallenge: { address: "127.0.0.1", port: 8555 } }));
        const https = bootstrap.static_resources.listeners[1];
        const chains = [...https.filter_chains, https.default_filter_chain];
        expect(chains).toHaveLength(3);
        for (const chain of chains) {
            const manager = chain.filters[0].typed_config;
            expect(manager.use_remote_address).toBe(true);
            expect(manager.common_http_protocol_options.headers_with_underscores_action).toBe("REJECT_REQUEST");
            expect(manager.request_timeout).toBe("300s");
            expect(manager.route_config.name).toBe("sites");
            const tls = chain.transport_socket.typed_config.common_tls_context;
            expect(tls.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
            expect(tls.alpn_protocols).toEqual(["h2", "http/1.1"]);
            expect(tls.tls_certificates).toBeUndefined();
        }
        expect(https.per_connection_buffer_limit_bytes).toBe(32768);
        for (const cluster of bootstrap.static_resources.clusters) expect(cluster.per_connection_buffer_limit_bytes).toBe(32768);
    });
});
