/**
 * The front door: Envoy on the frontend's public ports, run by the real Docker provider over SSH from
 * the lab's stand-in image (lab/envoy/), pulled by digest from the lab's registry. Everything is
 * measured from the outsider's namespace, as a browser on the internet sees it: the redirect on 80,
 * the session flow through Envoy and the Next.js middleware on 443, the darc.kr site, an nmap of
 * both hosts, a real Docker daemon that publishes nothing past the firewall, a config the image
 * refuses (the container untouched), one it accepts (the container replaced, and how long the door
 * was shut), and the container drifting by hand. Runs after 9-preflight.test.ts.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { spawnSync } from "node:child_process";
import { configureLabStack, LabHosts, LabOverrides, openLabStack, readLabHosts, recordFigure, runPulumiCli } from "../stack";
import { background, inNamespace, labResourceCount, onHost, onHostOk, previewRefresh, Result, tcpOpen, tcpOpensWithin } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const quiet = { color: "never" as const, onOutput: () => undefined };
const limenDomain = "limen.lab.test";
const darcDomain = "darc.lab.test";
const containerName = "limen-envoy";
const configPath = "/etc/limen/envoy/envoy.yaml";

/** The frontend's addresses as curl's --resolve and URLs want them. */
const frontendAddresses = () => [hosts.hosts.frontend.ipv4, `[${hosts.hosts.frontend.ipv6}]`];

/** curl from the outsider's namespace; `-k`: the lab's certificate is the frontend's snakeoil pair. */
function curlOutsider(...args: string[]): Result {
    return inNamespace(hosts.hosts.outsider.namespace, "curl", "-sS", "-k", "--max-time", "10", ...args);
}

/** An https request to `domain` on the frontend's `address`, through the front door. */
function https(domain: string, address: string, urlPath: string, ...args: string[]): Result {
    return curlOutsider("--resolve", `${domain}:443:${address}`, ...args, `https://${domain}${urlPath}`);
}

/** What Docker says of the Envoy container: its id, whether it runs, when it started, its image. */
function envoyContainer(): { id: string; running: boolean; startedAt: string; image: string } | undefined {
    const inspect = onHost("frontend", `docker inspect --format '{{.Id}} {{.State.Running}} {{.State.StartedAt}} {{.Image}}' ${containerName}`);
    if (inspect.status !== 0) return undefined;
    const [id = "", running, startedAt = "", image = ""] = inspect.stdout.trim().split(" ");
    return { id, running: running === "true", startedAt, image };
}

/**
 * A loop from the outsider through the front door until `stop` resolves: each request's time and
 * HTTP code (000 when nothing answered). Returns the requests, the failures and the longest time
 * the door did not answer (from the last answer before a failure to the next answer).
 */
async function doorLoop(during: () => Promise<void>): Promise<{ requests: number; failed: number; longestShutSeconds: number }> {
    const stopFile = `/tmp/limen-door-loop-${process.pid}-${Date.now()}`;
    const [address] = frontendAddresses();
    const loop = background("ip", [
        "netns",
        "exec",
        hosts.hosts.outsider.namespace,
        "bash",
        "-c",
        `while [ ! -e ${stopFile} ]; do code=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 2 --resolve ${limenDomain}:443:${address} https://${limenDomain}/); echo "$(date +%s.%N) $code"; sleep 0.05; done`,
    ]);
    try {
        await during();
    } finally {
        inNamespace(hosts.hosts.outsider.namespace, "touch", stopFile);
    }
    const samples = (await loop)
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split(" "))
        .map(([at, code]) => ({ at: Number(at), ok: code === "200" }));
    inNamespace(hosts.hosts.outsider.namespace, "rm", "-f", stopFile);
    let lastOk: number | undefined;
    let longestShutSeconds = 0;
    let shutSince: number | undefined;
    for (const sample of samples) {
        if (!sample.ok && shutSince === undefined) shutSince = lastOk ?? sample.at;
        if (sample.ok) {
            if (shutSince !== undefined) longestShutSeconds = Math.max(longestShutSeconds, sample.at - shutSince);
            shutSince = undefined;
            lastOk = sample.at;
        }
    }
    if (shutSince !== undefined) longestShutSeconds = Math.max(longestShutSeconds, (samples.at(-1)?.at ?? shutSince) - shutSince);
    return { requests: samples.length, failed: samples.filter((sample) => !sample.ok).length, longestShutSeconds };
}

async function converge(overrides: LabOverrides = {}, refresh = false): Promise<Record<string, number>> {
    await configureLabStack(hosts, overrides);
    const result = await stack.up({ ...quiet, refresh });
    expect(result.summary.result).toBe("succeeded");
    return result.summary.resourceChanges ?? {};
}

/** Port states nmap reports from the outsider (as root: a SYN scan), as port → state. */
function nmap(address: string, ports: number[]): Record<number, string> {
    const family = address.includes(":") ? ["-6"] : [];
    const scan = inNamespace(hosts.hosts.outsider.namespace, "nmap", ...family, "-Pn", "-n", "--max-retries", "1", "-p", ports.join(","), "-oG", "-", address);
    if (scan.status !== 0) throw new Error(`nmap ${address} exited ${scan.status}: ${scan.stderr}`);
    const found = /Ports: (.*?)(\t|$)/m.exec(scan.stdout)?.[1] ?? "";
    return Object.fromEntries(
        found
            .split(", ")
            .map((entry) => entry.split("/"))
            .map(([port, state]) => [Number(port), state ?? "?"]),
    );
}

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await converge({}, true);
}, 600_000);

afterAll(async () => {
    // Later runs start from the lab's own config, with the door as planned.
    await converge({}, true).catch(() => undefined);
}, 600_000);

describe("the front door, from the internet's side", () => {
    it("http:// on port 80 answers every host and path with a 301 to the same URL on https, over IPv4 and IPv6", () => {
        for (const address of frontendAddresses()) {
            const reply = curlOutsider("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", `Host: ${limenDomain}`, `http://${address}/dashboard/x?tab=1`);
            expect(reply.stdout, address).toBe(`301 https://${limenDomain}/dashboard/x?tab=1`);
            const darc = curlOutsider("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", `Host: ${darcDomain}`, `http://${address}/`);
            expect(darc.stdout, address).toBe(`301 https://${darcDomain}/`);
        }
    });

    it("https://<limen domain>/api/auth/session: Set-Cookie comes back through Envoy and the middleware, and the cookie is then valid", () => {
        for (const address of frontendAddresses()) {
            const login = https(limenDomain, address, "/api/auth/session", "-i", "-X", "POST");
            expect(login.status, login.stderr).toBe(0);
            // Envoy's own header: the reply really came through the front door.
            expect(login.stdout).toMatch(/^server: envoy\r?$/im);
            const cookie = /^set-cookie: ([^;\r\n]+)/im.exec(login.stdout)?.[1];
            expect(cookie, login.stdout).toMatch(/^limen_session=\w+/);
            expect(JSON.parse(https(limenDomain, address, "/api/auth/session", "-H", `Cookie: ${cookie}`).stdout)).toEqual({ valid: true });
            expect(JSON.parse(https(limenDomain, address, "/api/auth/session").stdout)).toEqual({ valid: false });
        }
    });

    it("the darc.kr host name reaches the darc.kr app on 9445; a name no site has gets Envoy's 404", () => {
        for (const address of frontendAddresses()) {
            expect(https(darcDomain, address, "/").stdout, address).toBe("darc.kr");
            expect(https(limenDomain, address, "/").stdout, address).not.toBe("darc.kr");
            expect(https("unknown.lab.test", address, "/", "-o", "/dev/null", "-w", "%{http_code}").stdout, address).toBe("404");
        }
    });

    it("nmap from the outsider: 80 and 443 open on the frontend; the apps, Envoy's admin and the ACME responder filtered; the backend as before", () => {
        const frontendPorts = [80, 443, 9444, 9445, 9901, 402];
        const backendPorts = [18443, 9000, 22];
        const figures: string[] = [];
        for (const address of [hosts.hosts.frontend.ipv4, hosts.hosts.frontend.ipv6]) {
            const states = nmap(address, frontendPorts);
            expect(states, address).toEqual({ 80: "open", 443: "open", 9444: "filtered", 9445: "filtered", 9901: "filtered", 402: "filtered" });
            figures.push(`frontend ${address}: ${frontendPorts.map((port) => `${port} ${states[port]}`).join(", ")}`);
        }
        for (const address of [hosts.hosts.backend.ipv4, hosts.hosts.backend.ipv6]) {
            const states = nmap(address, backendPorts);
            expect(states, address).toEqual({ 18443: "filtered", 9000: "filtered", 22: "filtered" });
            figures.push(`backend ${address}: ${backendPorts.map((port) => `${port} ${states[port]}`).join(", ")}`);
        }
        recordFigure("nmap from the outsider", figures.join("; "));
    }, 180_000);
});

describe("the real Docker daemon publishes nothing past the firewall", () => {
    it("dockerd adds no rule of its own, even when restarted, and a port published with -p reaches nothing", () => {
        const ruleset = () => onHostOk("frontend", "nft -s list ruleset");
        const before = ruleset();
        expect(onHostOk("frontend", "nft list tables").trim().split("\n")).toEqual(["table inet limen_firewall"]);
        onHostOk("frontend", "systemctl restart docker && docker info --format '{{.ServerVersion}}'");
        expect(ruleset()).toBe(before);
        // With no bridge a container gets no network to publish from: Docker takes -p and maps nothing.
        onHostOk(
            "frontend",
            `docker run -d --name limen-publish-probe -p 29443:443 -v ${configPath}:/etc/envoy/envoy.yaml:ro -v /etc/ssl:/etc/ssl:ro ${hosts.envoyImage} envoy -c /etc/envoy/envoy.yaml >/dev/null`,
        );
        try {
            expect(onHostOk("frontend", "docker port limen-publish-probe").trim()).toBe("");
            expect(ruleset()).toBe(before);
            expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.frontend.ipv4, 29443)).toBe(false);
        } finally {
            onHost("frontend", "docker rm -f limen-publish-probe");
        }
        // The restart left the door running (restart: unless-stopped).
        expect(tcpOpensWithin(hosts.hosts.outsider.namespace, hosts.hosts.frontend.ipv4, 443, 20)).toBe(true);
    }, 120_000);

    it("a port published by DNAT into a real container's network namespace, in front of guarded 9444, stays closed to the outsider", () => {
        const frontend = hosts.hosts.frontend.ipv4;
        // A container of the daemon's own (network none), given a veth as a bridge would, and reached by
        // DNAT as Docker publishes ports; 29444 is published the same way but not guarded, to show the
        // path itself works. The machine sees /proc/sys read-only: forwarding is set from the lab's side.
        expect(inNamespace(hosts.hosts.frontend.namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1").status).toBe(0);
        try {
            onHostOk(
                "frontend",
                [
                    // The listeners and clusters it watches, and a directory of its own for the admin socket
                    // (files/envoy-bootstrap.yaml), as the release gives each container.
                    `docker run -d --name limen-dnat-probe --network none -v ${configPath}:/etc/envoy/envoy.yaml:ro -v /etc/limen/envoy/dynamic:/etc/envoy/dynamic:ro -v /etc/ssl:/etc/ssl:ro --tmpfs /run/limen-envoy ${hosts.envoyImage} envoy -c /etc/envoy/envoy.yaml >/dev/null`,
                    "pid=$(docker inspect --format '{{.State.Pid}}' limen-dnat-probe)",
                    'ip link add ctr0 type veth peer name eth1 netns "$pid"',
                    "ip addr add 172.30.0.1/24 dev ctr0 && ip link set ctr0 up",
                    'nsenter -t "$pid" -n sh -c "ip addr add 172.30.0.2/24 dev eth1 && ip link set eth1 up && ip route add default via 172.30.0.1"',
                    "nft add table ip dockerlike",
                    "nft add chain ip dockerlike prerouting '{ type nat hook prerouting priority dstnat; }'",
                    "nft add rule ip dockerlike prerouting tcp dport 9444 dnat to 172.30.0.2:443",
                    "nft add rule ip dockerlike prerouting tcp dport 29444 dnat to 172.30.0.2:443",
                ].join(" && "),
            );
            expect(tcpOpensWithin(hosts.hosts.outsider.namespace, frontend, 29444, 20)).toBe(true);
            expect(tcpOpen(hosts.hosts.outsider.namespace, frontend, 9444)).toBe(false);
        } finally {
            onHost("frontend", "docker rm -f limen-dnat-probe; nft delete table ip dockerlike; ip link del ctr0");
            inNamespace(hosts.hosts.frontend.namespace, "sysctl", "-qw", "net.ipv4.ip_forward=0");
        }
    }, 120_000);
});

describe("a changed Envoy config is judged by the image before anything changes", () => {
    it("a config the image refuses fails `pulumi up` and leaves the running container and the installed config untouched", async () => {
        const snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
        // A key that is not the certificate's: the rendered config is valid for the schema and the
        // validators, and only loading the pair (as Envoy does) finds it wrong.
        onHostOk("frontend", "test -e /etc/ssl/private/lab-other.key || (umask 077 && openssl genrsa -out /etc/ssl/private/lab-other.key 2048 2>/dev/null)");
        const before = envoyContainer();
        const configBefore = onHostOk("frontend", `sha256sum ${configPath}`);
        expect(before?.running).toBe(true);
        let error = "";
        const door = await doorLoop(async () => {
            await configureLabStack(hosts, { tls: { source: "host-files", certificateChainPath: snakeoil, privateKeyPath: "/etc/ssl/private/lab-other.key" } });
            error = await stack.up(quiet).then(
                () => "",
                (e: Error) => e.message,
            );
        });
        expect(error).toMatch(/envoy --mode validate rejected the new config; nothing changed/);
        expect(envoyContainer()).toEqual(before);
        expect(onHostOk("frontend", `sha256sum ${configPath}`)).toBe(configBefore);
        expect(door.failed).toBe(0);
        recordFigure("front door during a refused Envoy config", `${door.requests} requests through 443, ${door.failed} failed`);
    }, 600_000);

    it("a config the image accepts is applied in place: the same container serves it, and no request fails", async () => {
        const before = envoyContainer();
        let changes: Record<string, number> = {};
        const door = await doorLoop(async () => {
            changes = await converge({ envoy: { backendRoutePrefixes: ["/api/agent"] } });
        });
        // The release (candidate, then the listeners in place) and the listeners file it installed.
        expect(changes).toEqual({ same: labResourceCount - 2, update: 2 });
        expect(envoyContainer()).toEqual(before);
        expect(onHostOk("frontend", "grep -c 'prefix: /api/agent' /etc/limen/envoy/dynamic/lds.yaml").trim()).toBe("1");
        expect(https(limenDomain, hosts.hosts.frontend.ipv4, "/api/auth/session").stdout).toBe(JSON.stringify({ valid: false }));
        expect(door.requests).toBeGreaterThan(0);
        recordFigure(
            "front door during a route change in place",
            `longest gap ${door.longestShutSeconds.toFixed(2)} s (${door.failed} of ${door.requests} requests through 443 failed)`,
        );
        expect(door.failed).toBe(0);
    }, 600_000);
});

describe("container drift is named by preview --refresh and repaired by up --refresh", () => {
    const cases = [
        { what: "the container stopped by hand", script: `docker stop ${containerName}`, drifted: ["frontend-envoy-container"] },
        // A container created anew is judged again by the door's gate.
        { what: "the container removed by hand", script: `docker rm -f ${containerName}`, drifted: ["frontend-envoy-container", "frontend-envoy-gate"] },
        {
            what: "the container started by hand from another image",
            // The stack's container is gone, and its name is held by one that is not the stack's.
            drifted: ["frontend-envoy-container", "frontend-envoy-container-name", "frontend-envoy-gate"],
            // An image of the operator's own (a commit of the running one has another id), run in its place.
            script: [
                `docker commit ${containerName} limen-lab/hand-made:1 >/dev/null`,
                `docker rm -f ${containerName} >/dev/null`,
                `docker run -d --name ${containerName} --network host -v ${configPath}:/etc/envoy/envoy.yaml:ro -v /etc/ssl:/etc/ssl:ro limen-lab/hand-made:1 envoy -c /etc/envoy/envoy.yaml >/dev/null`,
            ].join(" && "),
        },
    ];

    it.each(cases)(
        "$what",
        async ({ what, script, drifted }) => {
            onTestFailed(async () => {
                await stack.up({ ...quiet, refresh: true }).catch(() => undefined);
            });
            await converge();
            const planned = envoyContainer();
            onHostOk("frontend", script);

            const preview = await previewRefresh(stack);
            expect(preview.changed).toEqual(drifted);

            const started = Date.now();
            const repair = await stack.up({ ...quiet, refresh: true });
            expect(repair.summary.result).toBe("succeeded");
            recordFigure(`drift repaired: ${what}`, `${((Date.now() - started) / 1000).toFixed(1)} s`);
            const repaired = envoyContainer();
            expect(repaired?.running).toBe(true);
            expect(repaired?.image).toBe(planned?.image);
            expect(tcpOpensWithin(hosts.hosts.outsider.namespace, hosts.hosts.frontend.ipv4, 443, 20)).toBe(true);
            expect(https(darcDomain, hosts.hosts.frontend.ipv4, "/").stdout).toBe("darc.kr");

            const again = await previewRefresh(stack);
            expect(again.changed).toEqual([]);
            onHost("frontend", "docker image rm limen-lab/hand-made:1 >/dev/null 2>&1");
        },
        600_000,
    );
});

describe("the Docker provider's key, on a machine where no program has run yet", () => {
    it("a fresh runner's drift check (`pulumi preview --refresh`, the plain CLI) reaches Docker only with PULUMI_RUN_PROGRAM=true, which loads the key first", () => {
        // As on a fresh CI runner: no agent holds the key. The refresh runs the provider from the options
        // in the state; only the program, run first, puts the key where those options point.
        spawnSync("pkill", ["-f", "ssh-agent -a .*/limen-infra/docker-frontend-envoy/agent.sock"]);
        // Without the program first, the refresh cannot reach Docker: this is what the setting is for.
        expect(() => runPulumiCli(["preview", "--refresh", "--expect-no-changes"])).toThrow(/docker system dial-stdio/);
        const output = runPulumiCli(["preview", "--refresh", "--expect-no-changes", "--diff"], undefined, { PULUMI_RUN_PROGRAM: "true" });
        expect(output).toMatch(new RegExp(`^\\s+${labResourceCount} unchanged$`, "m"));
    }, 300_000);
});
