import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";

/**
 * Envoy's v3 bootstrap for the frontend: files/envoy-bootstrap.yaml (the hardened, static part)
 * completed with the listeners' ports, the virtual hosts and the clusters.
 *
 * The backend cluster's address and port are written into the file (seed: "Envoy uses a hard-coded
 * IP, no environment variables"), so what Envoy dials is visible in the rendered text and its hash.
 */
export interface EnvoySpec {
    httpPort: number;
    httpsPort: number;
    adminPort: number;
    limenDomains: string[];
    darcDomains: string[];
    nextjs: { host: string; port: number };
    darc: { host: string; port: number };
    backend: { address: string; port: number };
    /** Path prefixes routed straight to the backend cluster instead of Next.js. */
    backendRoutePrefixes: string[];
    tls: { certificateChainPath: string; privateKeyPath: string };
}

export const envoyClusterNames = { nextjs: "limen_nextjs", darc: "darc_site", backend: "limen_backend" } as const;

const templatePath = path.join(__dirname, "..", "files", "envoy-bootstrap.yaml");

type Json = Record<string, any>;

function socketAddress(address: string, port: number): Json {
    return { socket_address: { address, port_value: port } };
}

function staticCluster(name: string, address: string, port: number): Json {
    return {
        name,
        type: "STATIC",
        connect_timeout: "5s",
        per_connection_buffer_limit_bytes: 32768,
        load_assignment: {
            cluster_name: name,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }],
        },
    };
}

function httpsRedirect(httpsPort: number): Json {
    return httpsPort === 443 ? { https_redirect: true } : { https_redirect: true, port_redirect: httpsPort };
}

function httpConnectionManager(listener: Json): Json {
    return listener.filter_chains[0].filters[0].typed_config;
}

export function renderEnvoy(spec: EnvoySpec): string {
    const bootstrap: Json = parse(readFileSync(templatePath, "utf8"), { merge: true });
    bootstrap.admin.address = socketAddress("127.0.0.1", spec.adminPort);

    const [http, https] = bootstrap.static_resources.listeners as Json[];
    if (!http || !https) throw new Error(`${templatePath} must define the http and https listeners`);
    // "::" with ipv4_compat accepts IPv4 and IPv6 clients on one socket.
    http.address = { socket_address: { address: "::", port_value: spec.httpPort, ipv4_compat: true } };
    https.address = { socket_address: { address: "::", port_value: spec.httpsPort, ipv4_compat: true } };

    httpConnectionManager(http).route_config = {
        name: "redirect_to_https",
        virtual_hosts: [
            {
                name: "redirect_to_https",
                domains: ["*"],
                routes: [{ match: { prefix: "/" }, redirect: httpsRedirect(spec.httpsPort) }],
            },
        ],
    };

    const backendRoutes = spec.backendRoutePrefixes.map((prefix) => ({
        match: { prefix },
        route: { cluster: envoyClusterNames.backend, timeout: "30s" },
    }));
    const siteRoute = (cluster: string) => ({ match: { prefix: "/" }, route: { cluster, timeout: "60s" } });
    const httpsManager = httpConnectionManager(https);
    httpsManager.strip_any_host_port = true;
    httpsManager.route_config = {
        name: "sites",
        virtual_hosts: [
            { name: "limen", domains: spec.limenDomains, routes: [...backendRoutes, siteRoute(envoyClusterNames.nextjs)] },
            { name: "darc", domains: spec.darcDomains, routes: [siteRoute(envoyClusterNames.darc)] },
        ],
    };
    https.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates = [
        {
            certificate_chain: { filename: spec.tls.certificateChainPath },
            private_key: { filename: spec.tls.privateKeyPath },
        },
    ];

    bootstrap.static_resources.clusters = [
        staticCluster(envoyClusterNames.nextjs, spec.nextjs.host, spec.nextjs.port),
        staticCluster(envoyClusterNames.darc, spec.darc.host, spec.darc.port),
        staticCluster(envoyClusterNames.backend, spec.backend.address, spec.backend.port),
    ];

    return `# Rendered by limen-infra from files/envoy-bootstrap.yaml; replaced by \`pulumi up\`.\n${stringify(bootstrap, {
        aliasDuplicateObjects: false,
        lineWidth: 0,
    })}`;
}
