import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { projectFile } from "../core/project-files";

/** One certificate Envoy takes through SDS from a file, reloaded when its directory changes. */
export interface SdsCertificate {
    /** The SDS secret's name, e.g. "limen" (unique). */
    name: string;
    /** Host names this certificate serves (the filter chain's server_names, matched on SNI). */
    serverNames: string[];
    /** The SDS file Envoy reads: a DiscoveryResponse holding this one Secret (renderSdsSecret). */
    sdsPath: string;
}

export type EnvoyTls =
    /** host-files and config sources: the pair named in the bootstrap (as today; Envoy reads it at start only). */
    | { mode: "files"; certificateChainPath: string; privateKeyPath: string }
    /** acme source: one filter chain per certificate, picked by SNI; the first is also the default for clients without SNI. */
    | { mode: "sds"; certificates: SdsCertificate[] };

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
    limenDomains: string[];
    darcDomains: string[];
    nextjs: { host: string; port: number };
    darc: { host: string; port: number };
    backend: { address: string; port: number };
    /** Path prefixes routed straight to the backend cluster instead of Next.js. */
    backendRoutePrefixes: string[];
    /** The certificates the https listener presents: files named in the bootstrap, or SDS files. */
    tls: EnvoyTls;
    /** The ACME client's local HTTP-01 responder (127.0.0.1:P); default none: port 80 only redirects. */
    acmeChallenge?: { address: string; port: number };
}

export const envoyClusterNames = { nextjs: "limen_nextjs", darc: "darc_site", backend: "limen_backend" } as const;

/** The cluster the port-80 listener sends ACME HTTP-01 challenges to. */
export const acmeResponderCluster = "acme_responder";

/** RFC 8555 §8.3: the CA fetches the key authorization from this path on port 80. */
const acmeChallengePrefix = "/.well-known/acme-challenge/";

const templatePath = projectFile("files", "envoy-bootstrap.yaml");

const secretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const tlsInspectorType = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

type Json = Record<string, any>;

function socketAddress(address: string, port: number): Json {
    return { socket_address: { address, port_value: port } };
}

/**
 * How Envoy talks to the apps and the backend, so that a rolling `pm2 reload` costs no request
 * (measured: docs/safety.md, "Why reloads drop no request").
 * - One request per upstream connection. `next start` stops on SIGINT by closing its server, which in
 *   Node closes at once every kept-alive connection that is idle at that instant; a request Envoy
 *   puts on such a connection in the same instant is lost (503), and Envoy counts a request as sent
 *   from the moment its pool hands over the connection, so no retry policy safe for POST covers it.
 *   A connection that has carried no request yet is never closed that way. So Envoy keeps no idle
 *   connection to an app: it opens one per request, on loopback, as nginx's proxy_pass does by
 *   default. That also lets a stopping process finish at once, where a kept-alive connection Envoy
 *   kept busy held it until pm2's kill_timeout and the SIGKILL that cut the requests in flight.
 * - A request is retried only when it was never sent (`reset-before-request`: the connection could not
 *   be made, or failed before the pool handed it over), which is safe for POST.
 */
export const upstreamConnectionPolicy = { maxRequestsPerConnection: 1, retriesBeforeRequest: 2 } as const;

const upstreamHttpOptionsType = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

function staticCluster(name: string, address: string, port: number): Json {
    return {
        name,
        type: "STATIC",
        connect_timeout: "5s",
        per_connection_buffer_limit_bytes: 32768,
        typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": upstreamHttpOptionsType,
                common_http_protocol_options: { max_requests_per_connection: upstreamConnectionPolicy.maxRequestsPerConnection },
                explicit_http_config: { http_protocol_options: {} },
            },
        },
        load_assignment: {
            cluster_name: name,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }],
        },
    };
}

function proxiedRoute(prefix: string, cluster: string, timeout: string): Json {
    return {
        match: { prefix },
        route: { cluster, timeout, retry_policy: { retry_on: "reset-before-request", num_retries: upstreamConnectionPolicy.retriesBeforeRequest } },
    };
}

function httpsRedirect(httpsPort: number): Json {
    return httpsPort === 443 ? { https_redirect: true } : { https_redirect: true, port_redirect: httpsPort };
}

function httpConnectionManager(listener: Json): Json {
    return listener.filter_chains[0].filters[0].typed_config;
}

function renderedYaml(value: unknown): string {
    return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/**
 * Refuses what Envoy would refuse at load, or accept and then serve wrongly, in a certificate list that
 * the config schema should already have ruled out: a second chain with the same server name is a load
 * error ("overlapping matching rules"), and with several chains one without server names would take
 * every unknown name instead of the first certificate.
 */
function checkSdsCertificates(certificates: SdsCertificate[]): void {
    if (certificates.length === 0) throw new Error("EnvoySpec.tls: mode sds needs at least one certificate");
    const names = new Set<string>();
    const servedBy = new Map<string, string>();
    for (const certificate of certificates) {
        if (names.has(certificate.name)) throw new Error(`EnvoySpec.tls: two SDS certificates are named ${JSON.stringify(certificate.name)}`);
        names.add(certificate.name);
        if (!path.posix.isAbsolute(certificate.sdsPath)) throw new Error(`EnvoySpec.tls: the SDS path of ${certificate.name} is not absolute: ${certificate.sdsPath}`);
        if (certificates.length > 1 && certificate.serverNames.length === 0)
            throw new Error(`EnvoySpec.tls: with several certificates, ${certificate.name} needs server names to be picked by SNI`);
        for (const serverName of certificate.serverNames) {
            // Envoy compares server names in lower case.
            const key = serverName.toLowerCase();
            const other = servedBy.get(key);
            if (other !== undefined) throw new Error(`EnvoySpec.tls: ${serverName} is served by both ${other} and ${certificate.name}`);
            servedBy.set(key, certificate.name);
        }
    }
}

/**
 * One https filter chain per certificate, each a copy of the template's chain (the same hardened
 * connection manager and route table) whose TLS context takes its certificate from the SDS file.
 * Envoy picks a chain by the SNI the tls_inspector reads; the first certificate's chain, without a
 * match, is also the default one for clients that send no SNI or a name no chain lists.
 */
function sdsFilterChains(template: Json, certificates: SdsCertificate[]): { chains: Json[]; fallback?: Json } {
    const chainFor = (certificate: SdsCertificate): Json => {
        const chain: Json = structuredClone(template);
        delete chain.transport_socket.typed_config.common_tls_context.tls_certificates;
        chain.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs = [
            {
                name: certificate.name,
                sds_config: {
                    // The SDS file is reloaded when an entry is moved into its directory (an atomic
                    // replace), not when it is written in place.
                    path_config_source: { path: certificate.sdsPath, watched_directory: { path: path.posix.dirname(certificate.sdsPath) } },
                    resource_api_version: "V3",
                },
            },
        ];
        return chain;
    };
    const [first] = certificates;
    if (certificates.length === 1 && first) return { chains: [chainFor(first)] };
    const chains = certificates.map((certificate) => ({ filter_chain_match: { server_names: certificate.serverNames }, ...chainFor(certificate) }));
    return { chains, fallback: first && chainFor(first) };
}

/** Where the admin's unix socket is inside Envoy's container (files/envoy-bootstrap.yaml). */
export const envoyAdminSocket = "/run/limen-envoy/admin.sock";

/**
 * Where the listeners bind: the public ports, or, for the candidate of a release (plan/envoy.ts),
 * ports the kernel picks on 127.0.0.1 (port 0; the admin's /listeners says which), so the new config
 * is judged before any client reaches it.
 */
export type EnvoyListenOn = "public" | "candidate";

/** The template (files/envoy-bootstrap.yaml): admin, runtime, and the listeners' hardened base. */
function template(): Json {
    const bootstrap: Json = parse(readFileSync(templatePath, "utf8"), { merge: true });
    if (bootstrap.admin?.address?.pipe?.path !== envoyAdminSocket) throw new Error(`${templatePath} must put the admin on the pipe ${envoyAdminSocket}`);
    return bootstrap;
}

/** Envoy's listeners and clusters for the spec: what the LDS and CDS files hold. */
export interface EnvoyResources {
    listeners: Json[];
    clusters: Json[];
}

/**
 * The listeners and clusters: the template's listeners completed with their ports, virtual hosts and
 * certificates, and one static cluster per upstream. Each listener is named after its kind and port
 * (`https_443`): Envoy refuses an LDS update that moves a listener of the same name to another address,
 * so a new port is a new listener, and the old one drains.
 */
export function renderEnvoyResources(spec: EnvoySpec, listenOn: EnvoyListenOn = "public"): EnvoyResources {
    const bootstrap = template();

    const [http, https] = bootstrap.static_resources.listeners as Json[];
    if (!http || !https) throw new Error(`${templatePath} must define the http and https listeners`);
    // "::" with ipv4_compat accepts IPv4 and IPv6 clients on one socket.
    const bind = (port: number) => (listenOn === "public" ? { socket_address: { address: "::", port_value: port, ipv4_compat: true } } : socketAddress("127.0.0.1", 0));
    http.address = bind(spec.httpPort);
    https.address = bind(spec.httpsPort);

    // The challenge route comes first: Envoy takes the first route that matches, and a challenge
    // redirected to https would find no route there that serves it. The responder answers from memory,
    // so a short timeout only cuts a stalled one.
    const acmeRoutes = spec.acmeChallenge ? [proxiedRoute(acmeChallengePrefix, acmeResponderCluster, "10s")] : [];
    httpConnectionManager(http).route_config = {
        name: "redirect_to_https",
        virtual_hosts: [
            {
                name: "redirect_to_https",
                domains: ["*"],
                routes: [...acmeRoutes, { match: { prefix: "/" }, redirect: httpsRedirect(spec.httpsPort) }],
            },
        ],
    };

    const backendRoutes = spec.backendRoutePrefixes.map((prefix) => proxiedRoute(prefix, envoyClusterNames.backend, "30s"));
    const siteRoute = (cluster: string) => proxiedRoute("/", cluster, "60s");
    const httpsManager = httpConnectionManager(https);
    httpsManager.strip_any_host_port = true;
    httpsManager.route_config = {
        name: "sites",
        virtual_hosts: [
            { name: "limen", domains: spec.limenDomains, routes: [...backendRoutes, siteRoute(envoyClusterNames.nextjs)] },
            { name: "darc", domains: spec.darcDomains, routes: [siteRoute(envoyClusterNames.darc)] },
        ],
    };

    const listeners: Json[] = [http, https];
    if (spec.tls.mode === "sds") {
        checkSdsCertificates(spec.tls.certificates);
        const { chains, fallback } = sdsFilterChains(https.filter_chains[0], spec.tls.certificates);
        // Envoy no longer inserts the TLS inspector by itself: without it no connection has an SNI
        // and server_names never match.
        listeners[1] = {
            name: https.name,
            enable_reuse_port: https.enable_reuse_port,
            per_connection_buffer_limit_bytes: https.per_connection_buffer_limit_bytes,
            listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": tlsInspectorType } }],
            filter_chains: chains,
            ...(fallback ? { default_filter_chain: fallback } : {}),
            address: https.address,
        };
    } else {
        // Envoy watches no file named in the bootstrap itself: a renewed pair takes effect on a restart.
        https.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates = [
            {
                certificate_chain: { filename: spec.tls.certificateChainPath },
                private_key: { filename: spec.tls.privateKeyPath },
            },
        ];
    }
    http.name = `http_${spec.httpPort}`;
    listeners[1]!.name = `https_${spec.httpsPort}`;
    const clusters = [
        staticCluster(envoyClusterNames.nextjs, spec.nextjs.host, spec.nextjs.port),
        staticCluster(envoyClusterNames.darc, spec.darc.host, spec.darc.port),
        staticCluster(envoyClusterNames.backend, spec.backend.address, spec.backend.port),
        ...(spec.acmeChallenge ? [staticCluster(acmeResponderCluster, spec.acmeChallenge.address, spec.acmeChallenge.port)] : []),
    ];
    return { listeners, clusters };
}

/**
 * The whole config as one static bootstrap (admin, runtime, the listeners and clusters): what
 * `envoy --mode validate` judges (Envoy's validate mode checks only that dynamic resources' files
 * exist, not what they hold), and, with listenOn "candidate", what the release's candidate runs.
 */
export function renderEnvoy(spec: EnvoySpec, listenOn: EnvoyListenOn = "public"): string {
    const bootstrap = template();
    bootstrap.static_resources = renderEnvoyResources(spec, listenOn);
    return `# Rendered by limen-infra from files/envoy-bootstrap.yaml; replaced by \`pulumi up\`.\n${renderedYaml(bootstrap)}`;
}

/** Where Envoy's container reads its dynamic resources: the directory it watches, and the two files. */
export const envoyDynamicDir = "/etc/envoy/dynamic";
export const envoyDynamicFiles = { lds: "lds.yaml", cds: "cds.yaml" } as const;

/**
 * The bootstrap Envoy's container runs: admin, runtime, and listeners and clusters from the LDS and CDS
 * files in `envoyDynamicDir`, reloaded when a file is moved into it (Envoy, "Configuration: Dynamic from
 * filesystem"). It does not depend on the stack's config, so a config change never restarts Envoy: only
 * a new version of this project's bootstrap, or a new image, replaces the container.
 */
export function renderEnvoyBootstrap(): string {
    const { admin, layered_runtime } = template();
    const source = (file: string) => ({
        resource_api_version: "V3",
        path_config_source: { path: `${envoyDynamicDir}/${file}`, watched_directory: { path: envoyDynamicDir } },
    });
    const bootstrap = {
        node: { id: "limen-frontend", cluster: "limen-edge" },
        admin,
        layered_runtime,
        dynamic_resources: { lds_config: source(envoyDynamicFiles.lds), cds_config: source(envoyDynamicFiles.cds) },
    };
    return `# Rendered by limen-infra from files/envoy-bootstrap.yaml; replaced by \`pulumi up\`.\n${renderedYaml(bootstrap)}`;
}

/**
 * One dynamic resources file: a DiscoveryResponse with the resources (each with its "@type") and a
 * version_info naming their content (the first 16 hex digits of their sha256), which Envoy reports
 * back once it applied them (the admin's `listener_manager.lds.version_text`, `cluster_manager.cds.version_text`).
 */
export function renderDiscoveryResponse(kind: "lds" | "cds", resources: Json[]): { text: string; version: string } {
    const type = kind === "lds" ? "type.googleapis.com/envoy.config.listener.v3.Listener" : "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    const version = createHash("sha256").update(JSON.stringify(resources)).digest("hex").slice(0, 16);
    const response = { version_info: version, resources: resources.map((resource) => ({ "@type": type, ...resource })) };
    return { text: `# Rendered by limen-infra: Envoy's ${kind === "lds" ? "listeners" : "clusters"}; replaced by \`pulumi up\`.\n${renderedYaml(response)}`, version };
}

/**
 * The SDS file for one certificate: a DiscoveryResponse with one envoy.extensions.transport_sockets.tls.v3.Secret
 * whose tls_certificate names the pair by file and sets watched_directory, so a swap of the directory's
 * `current` symlink (ln -s + mv -T, atomic) makes Envoy reload the pair.
 */
export function renderSdsSecret(secret: { name: string; certificateChainPath: string; privateKeyPath: string; watchedDirectory: string }): string {
    // Envoy's watch fires on a move into watched_directory and then rereads both files; a pair outside
    // it would never be reloaded (Envoy docs, "Secret discovery service (SDS)", key rotation).
    for (const file of [secret.certificateChainPath, secret.privateKeyPath]) {
        const relative = path.posix.relative(secret.watchedDirectory, file);
        if (!path.posix.isAbsolute(file) || relative === "" || relative.startsWith("..") || path.posix.isAbsolute(relative))
            throw new Error(`SDS secret ${secret.name}: ${file} is not an absolute path inside the watched directory ${secret.watchedDirectory}`);
    }
    const discoveryResponse = {
        resources: [
            {
                "@type": secretType,
                name: secret.name,
                tls_certificate: {
                    certificate_chain: { filename: secret.certificateChainPath },
                    private_key: { filename: secret.privateKeyPath },
                    watched_directory: { path: secret.watchedDirectory },
                },
            },
        ],
    };
    return `# Rendered by limen-infra: the SDS secret ${JSON.stringify(secret.name)} for Envoy; replaced by \`pulumi up\`.\n${renderedYaml(discoveryResponse)}`;
}
