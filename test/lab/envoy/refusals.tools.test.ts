/** The lab's Envoy stand-in (lab/envoy): certificates named in the bootstrap, an upstream that is down, and what it refuses. */
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { EnvoySpec, renderEnvoy } from "../../../render/envoy";
import { selfSignedPair } from "../../support/certificates";
import { work, freePort, writeBootstrap, Json, escape, runEnvoy, serve, httpsFor } from "../../support/envoy-stand-in";

describe("certificates named in the bootstrap, an upstream that is down, and what the stand-in refuses", () => {
    let spec: EnvoySpec;
    const bootstrap = (): Json => parse(renderEnvoy(spec));
    const httpsManager = (b: Json): Json => b.static_resources.listeners[1].filter_chains[0].filters[0].typed_config;
    const HTTPS_HCM = "static_resources.listeners[1].filter_chains[0].filters[0].typed_config";

    beforeAll(async () => {
        const pair = selfSignedPair(path.join(work, "files-pair"), ["limen.test"], 7);
        const [http, https, down] = await Promise.all([freePort(), freePort(), freePort()]);
        spec = {
            httpPort: http ?? 0,
            httpsPort: https ?? 0,
            limenDomains: ["limen.test"],
            darcDomains: ["darc.test"],
            nextjs: { host: "127.0.0.1", port: down ?? 0 },
            darc: { host: "127.0.0.1", port: down ?? 0 },
            backend: { address: "127.0.0.1", port: down ?? 0 },
            backendRoutePrefixes: [],
            tls: { mode: "files", certificateChainPath: pair.chainPath, privateKeyPath: pair.keyPath },
        };
    });

    it("an upstream that refuses the connection is 503 with Envoy's reason", async () => {
        await serve(writeBootstrap("files.yaml", renderEnvoy(spec)));
        const reply = await httpsFor(spec.httpsPort, "limen.test");
        expect(reply.status).toBe(503);
        expect(reply.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection failure");
    });

    it("validate mode passes the rendered bootstrap, with its upstream options and retry policies", () => {
        const b = bootstrap();
        expect(b.static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options).toEqual({
            max_requests_per_connection: 1,
        });
        expect(httpsManager(b).route_config.virtual_hosts[0].routes.at(-1).route.retry_policy).toEqual({ retry_on: "reset-before-request", num_retries: 2 });
        const file = writeBootstrap("validate-ok.yaml", stringify(b));
        const run = runEnvoy(["--mode", "validate", "-c", file]);
        expect(run.stderr).toBe("");
        expect([run.status, run.stdout]).toEqual([0, `configuration '${file}' OK\n`]);
    });

    it.each<[string, (b: Json) => void, string]>([
        [
            "an extra http filter (CORS)",
            (b) =>
                httpsManager(b).http_filters.unshift({
                    name: "envoy.filters.http.cors",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" },
                }),
            `${HTTPS_HCM}.http_filters[0].typed_config: message type envoy.extensions.filters.http.cors.v3.Cors: not implemented by the lab's stand-in Envoy`,
        ],
        [
            "a LOGICAL_DNS cluster",
            (b) => (b.static_resources.clusters[0].type = "LOGICAL_DNS"),
            "static_resources.clusters[0].type: cluster type LOGICAL_DNS (only STATIC): not implemented by the lab's stand-in Envoy",
        ],
        [
            "connection reuse to an upstream (max_requests_per_connection 100)",
            (b) =>
                (b.static_resources.clusters[0].typed_extension_protocol_options[
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
                ].common_http_protocol_options.max_requests_per_connection = 100),
            'static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options.max_requests_per_connection: max_requests_per_connection 100 (only 1): not implemented by the lab\'s stand-in Envoy',
        ],
        [
            "generate_request_id on the connection manager",
            (b) => (httpsManager(b).generate_request_id = false),
            `${HTTPS_HCM}.generate_request_id: field envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.generate_request_id: not implemented by the lab's stand-in Envoy`,
        ],
    ])("validate mode refuses %s, naming the field", (_name, mutate, problem) => {
        const b = bootstrap();
        mutate(b);
        const run = runEnvoy(["--mode", "validate", "-c", writeBootstrap("validate-refused.yaml", stringify(b))]);
        expect(run.status).toBe(1);
        expect(run.stderr.split("\n")).toContainEqual(expect.stringMatching(new RegExp(`^${escape(problem)}( \\(line \\d+\\))?$`)));
        expect(run.stdout).toBe("");
    });

    it("validate mode refuses what envoy-check refuses (a port out of range)", () => {
        const b = bootstrap();
        b.static_resources.listeners[1].address.socket_address.port_value = 70000;
        const run = runEnvoy(["--mode", "validate", "-c", writeBootstrap("validate-check.yaml", stringify(b))]);
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/static_resources\.listeners\[1\]\.address\.socket_address\.port_value: value must be less than or equal to 65535/);
    });

    it("validate mode loads the pair named in the bootstrap: a missing key file is refused", () => {
        const b = bootstrap();
        b.static_resources.listeners[1].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key.filename = path.join(work, "none.pem");
        const run = runEnvoy(["--mode", "validate", "-c", writeBootstrap("validate-pair.yaml", stringify(b))]);
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/tls_certificates\[0\]: failed to load the certificate pair/);
    });

    it("serve mode refuses an unimplemented field at start, before it binds", () => {
        const b = bootstrap();
        b.static_resources.clusters[1].type = "LOGICAL_DNS";
        const run = runEnvoy(["-c", writeBootstrap("serve-refused.yaml", stringify(b)), "--drain-time-s", "20"]);
        expect(run.status).toBe(1);
        expect(run.stderr).toContain("static_resources.clusters[1].type: cluster type LOGICAL_DNS (only STATIC): not implemented by the lab's stand-in Envoy");
    });

    it("an unreadable file or an unknown flag is exit 1, and --version says it is the stand-in", () => {
        expect(runEnvoy(["--mode", "validate", "-c", path.join(work, "missing.yaml")]).status).toBe(1);
        expect(runEnvoy(["--hot-restart-version"]).status).toBe(1);
        expect(runEnvoy(["--version"]).stdout).toMatch(/limen lab stand-in for Envoy .*go-control-plane\/envoy v1\.38\.0/);
    });
});
