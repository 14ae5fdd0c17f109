/**
 * A test ACME CA for the lab: Let's Encrypt's pebble and its DNS server pebble-challtestsrv
 * (lab/acme/build-pebble.sh builds both), run in the frontend machine's network namespace.
 *
 * pebble validates HTTP-01 on the frontend's port 80, where Envoy's challenge route forwards to certbot's
 * standalone responder on 127.0.0.1, as Let's Encrypt's validation reaches it in prod. The lab domains
 * resolve to 127.0.0.1 (for pebble only), so both processes run on the lab host side under
 * `ip netns exec <frontend's namespace>`, the named namespace the machine was booted into
 * (`systemd-nspawn --network-namespace-path`, lab/hosts/lib.sh), and share that loopback with the
 * machine. Nothing of the ACME exchange crosses the lab network or leaves the lab.
 *
 * The tests run in the operator namespace; every probe of pebble here enters the frontend's
 * namespace first, since 127.0.0.1 in the operator namespace is a different loopback. How the
 * processes are started, logged, waited on and stopped is in processes.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { readLabHosts, repoRoot } from "../stack";
import { Daemon, inNamespace, logDir, Output, run, startDaemon, stopDaemon, waitUntil } from "./processes";

/** Where pebble's ACME API listens, inside the frontend's namespace. */
const acmeListen = "127.0.0.1:14000";
/** Pebble's management API (its generated roots, /roots/0), inside the frontend's namespace. */
const managementListen = "127.0.0.1:15000";
/** challtestsrv's DNS (pebble's `-dnsserver`; pebble asks it over TCP). */
const dnsListen = "127.0.0.1:8053";
/** challtestsrv's own HTTP API (cannot be switched off; /add-a sets the lab domains' records). */
const challtestsrvManagementListen = "127.0.0.1:8055";
/**
 * The port pebble would connect to for TLS-ALPN-01. certbot's standalone plugin answers HTTP-01 only,
 * so nothing ever binds it; it only has to differ from the validation port.
 */
const tlsAlpnPort = 5001;
const ownPorts = [acmeListen, managementListen, dnsListen, challtestsrvManagementListen].map((address) => Number(address.split(":")[1]));

/** Where the frontend's trust store picks up the lab CA (update-ca-certificates reads `*.crt` here). */
const frontendCaFile = "/usr/local/share/ca-certificates/limen-lab-pebble.crt";

export interface PebbleOptions {
    /** Port on the frontend's 127.0.0.1 where pebble validates HTTP-01: Envoy's port 80, which routes challenges to certbot's responder. */
    validationPort: number;
    /** The names certificates will be asked for: each gets an A record 127.0.0.1 in challtestsrv. */
    domains: string[];
    /** Lifetime of issued certificates, in seconds. Default: pebble's own, 90 days. */
    certificateValiditySeconds?: number;
}

export interface LabAcme {
    /** The ACME directory, as seen from the frontend (`certbot --server`). */
    directoryUrl: string;
    /** The root that signed pebble's HTTPS endpoint: what an ACME client must trust to talk to it. */
    acmeCaPem: string;
    /** Pebble's issuing root, new at each start: what issued certificates chain to. */
    issuerRootPem(): Promise<string>;
    /** Stops pebble and challtestsrv, waits for both to exit and removes pebble's config. */
    stop(): Promise<void>;
}

/** Runs a command as root inside the frontend machine (its filesystem and trust store). */
function onFrontend(script: string, input?: string): Promise<Output> {
    return run(path.join(repoRoot, "lab", "hosts", "exec.sh"), ["frontend", "sh", "-c", script], input);
}

/**
 * The directory holding pebble, challtestsrv and the certs of pebble's endpoint: LIMEN_LAB_PEBBLE_DIR
 * from lab/run.sh, else what build-pebble.sh prints (a no-op once cached).
 */
async function pebbleDir(): Promise<string> {
    const fromRun = process.env.LIMEN_LAB_PEBBLE_DIR;
    if (fromRun) return fromRun;
    const build = path.join(repoRoot, "lab", "acme", "build-pebble.sh");
    // A first build fetches modules from the Go module proxy, which a lab namespace cannot reach: go
    // back to the network namespace of the process that started the lab (as lab/hosts/restart.sh does).
    const hostPid = process.env.LIMEN_HOST_NS_PID;
    const { stdout } = hostPid ? await run("nsenter", [`--net=/proc/${hostPid}/ns/net`, "--", build]) : await run(build, []);
    return stdout.trim();
}

/**
 * The frontend's network namespace, checked to be the one the machine's PID 1 lives in: a pebble
 * started anywhere else would validate against a loopback certbot is not listening on.
 */
async function frontendNamespace(): Promise<string> {
    const namespace = readLabHosts().hosts.frontend.namespace;
    const named = `net:[${statSync(`/run/netns/${namespace}`).ino}]`;
    const { stdout } = await onFrontend("readlink /proc/1/ns/net").catch((error: Error) => {
        throw new Error(`the frontend machine is not running (lab/hosts/up.sh): ${error.message}`);
    });
    if (stdout.trim() !== named) {
        throw new Error(`the frontend machine's network namespace is ${stdout.trim()}, not ${namespace} (${named})`);
    }
    return namespace;
}

/** A leftover pebble would answer the readiness probe while the new one fails to bind: refuse to start. */
async function requirePortsFree(namespace: string, ports: number[]): Promise<void> {
    const { stdout } = await inNamespace(namespace, "ss", ["-Hlntup"]);
    const busy = stdout.split("\n").filter((line) => ports.some((port) => line.split(/\s+/)[4]?.endsWith(`:${port}`)));
    if (busy.length > 0) {
        throw new Error(`ports pebble needs are in use in ${namespace} (a pebble left running? lab/hosts/down.sh clears it):\n${busy.join("\n")}`);
    }
}

function checkOptions(options: PebbleOptions): void {
    const { validationPort, domains, certificateValiditySeconds } = options;
    if (!Number.isInteger(validationPort) || validationPort < 1 || validationPort > 65535 || [...ownPorts, tlsAlpnPort].includes(validationPort)) {
        throw new Error(`validationPort ${validationPort}: must be a port from 1 to 65535 other than pebble's own ${[...ownPorts, tlsAlpnPort].join(", ")}`);
    }
    if (domains.length === 0) throw new Error("domains: at least one name is needed");
    const badDomain = domains.find((domain) => !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain));
    if (badDomain !== undefined) throw new Error(`domains: ${JSON.stringify(badDomain)} is not a lower-case DNS name`);
    if (certificateValiditySeconds !== undefined && (!Number.isInteger(certificateValiditySeconds) || certificateValiditySeconds < 1)) {
        throw new Error(`certificateValiditySeconds ${certificateValiditySeconds}: must be a whole number of seconds, at least 1`);
    }
}

/**
 * Starts challtestsrv and pebble in the frontend's namespace and returns once pebble's directory
 * answers. The caller stops it (also when a test fails: `afterAll`).
 */
export async function startPebble(options: PebbleOptions): Promise<LabAcme> {
    checkOptions(options);
    const dir = await pebbleDir();
    const acmeCa = path.join(dir, "certs", "pebble.minica.pem");
    const namespace = await frontendNamespace();
    await requirePortsFree(namespace, ownPorts);
    mkdirSync(logDir, { recursive: true });
    const configDir = mkdtempSync(path.join(tmpdir(), "limen-lab-pebble-"));
    const configFile = path.join(configDir, "pebble-config.json");
    writeFileSync(
        configFile,
        JSON.stringify(
            {
                pebble: {
                    listenAddress: acmeListen,
                    managementListenAddress: managementListen,
                    certificate: path.join(dir, "certs", "localhost", "cert.pem"),
                    privateKey: path.join(dir, "certs", "localhost", "key.pem"),
                    httpPort: options.validationPort,
                    tlsPort: tlsAlpnPort,
                    ocspResponderURL: "",
                    externalAccountBindingRequired: false,
                    // Exactly one profile: for an order that names none (certbot 2.1 never does) pebble
                    // picks one of its profiles at random. 0 means pebble's default, 90 days.
                    profiles: { default: { description: "limen lab", validityPeriod: options.certificateValiditySeconds ?? 0 } },
                },
            },
            null,
            2,
        ),
    );

    const daemons: Daemon[] = [];
    const stop = async (): Promise<void> => {
        await Promise.all(daemons.map(stopDaemon));
        rmSync(configDir, { recursive: true, force: true });
    };
    try {
        const challtestsrv = startDaemon(namespace, "challtestsrv", path.join(dir, "pebble-challtestsrv"), [
            "-dnsserver",
            dnsListen,
            "-management",
            challtestsrvManagementListen,
            "-defaultIPv4",
            "127.0.0.1",
            // No AAAA answers: pebble dials the first address it resolves, AAAA before A, and the
            // responder listens on 127.0.0.1 only.
            "-defaultIPv6",
            "",
            // Its own challenge responders off: certbot answers the challenges, and they would take ports.
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-doh",
            "",
        ]);
        daemons.push(challtestsrv);
        await waitUntil("challtestsrv's DNS listens and its API takes the domains' records", daemons, async () => {
            const dnsPort = dnsListen.split(":")[1];
            const { stdout } = await inNamespace(namespace, "ss", ["-Hltn", `sport = :${dnsPort}`]);
            if (stdout.trim() === "") throw new Error(`nothing listens on ${dnsListen}/tcp`);
            // The names certificates are asked for get records of their own; the default answer
            // (-defaultIPv4) covers any other name.
            for (const domain of options.domains) {
                const record = JSON.stringify({ host: domain, addresses: ["127.0.0.1"] });
                await inNamespace(namespace, "curl", ["-sS", "--fail", "--max-time", "2", "-d", record, `http://${challtestsrvManagementListen}/add-a`]);
            }
        });

        const pebble = startDaemon(namespace, "pebble", path.join(dir, "pebble"), ["-config", configFile, "-dnsserver", dnsListen], {
            // Validate at once instead of after a random pause of up to 15 s.
            PEBBLE_VA_NOSLEEP: "1",
            // Pebble rejects 5 % of good nonces by default; certbot retries, but timings would wobble.
            PEBBLE_WFE_NONCEREJECT: "0",
            // Every order validates afresh, so each issuance and renewal really reaches the responder.
            PEBBLE_AUTHZREUSE: "0",
        });
        daemons.push(pebble);
        const directoryUrl = `https://${acmeListen}/dir`;
        await waitUntil(`pebble's directory ${directoryUrl} answers`, daemons, () =>
            inNamespace(namespace, "curl", ["-sS", "--fail", "--max-time", "2", "--cacert", acmeCa, "-o", "/dev/null", directoryUrl]),
        );

        return {
            directoryUrl,
            acmeCaPem: readFileSync(acmeCa, "utf8"),
            issuerRootPem: async () =>
                (await inNamespace(namespace, "curl", ["-sS", "--fail", "--max-time", "5", "--cacert", acmeCa, `https://${managementListen}/roots/0`])).stdout,
            stop,
        };
    } catch (error) {
        await stop();
        throw error;
    }
}

/**
 * Makes the frontend trust `caPem` (pebble's endpoint root) for the ACME test only; undo with
 * untrustOnFrontend. certbot's HTTP client (Debian's python3-requests) reads the system bundle
 * /etc/ssl/certs/ca-certificates.crt that update-ca-certificates writes.
 */
export async function trustOnFrontend(caPem: string): Promise<void> {
    await onFrontend(`cat > ${frontendCaFile} && update-ca-certificates`, caPem);
}

/** Removes the lab CA from the frontend's trust store again. */
export async function untrustOnFrontend(): Promise<void> {
    // --fresh: bookworm's update-ca-certificates does not count a deleted local CA as removed, so a
    // plain run rewrites the bundle without it but leaves its links in /etc/ssl/certs dangling.
    await onFrontend(`rm -f ${frontendCaFile} && update-ca-certificates --fresh`);
}
