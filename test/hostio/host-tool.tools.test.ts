/**
 * The requests the providers build (hostio/host-tool.ts), judged by the host tool itself: each is sent
 * to the tests' build of tools/limen-host with `validateOnly`, which decodes it and checks every field
 * by name and runs nothing. A field the stack and the tool spell or type differently fails here, not on
 * a host. The content of a request (a TLS key among the files) travels on stdin, never in the step's text.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import {
    acmeCertificateCall,
    acmeRemoveCall,
    applyFirewallCall,
    chainCalls,
    confirmFirewallCall,
    containerClaimCall,
    envoyForgetCall,
    envoyReleaseCall,
    envoySettleCall,
    installFileCall,
    pm2ApplyCall,
    pm2EnableCall,
    pm2MarkLoadedCall,
    pm2RemoveCall,
    pm2SaveCall,
    removeFileCall,
    removeFirewallCall,
    tlsPlaceholderCall,
    ToolCall,
} from "../../hostio/host-tool";
import { planStack } from "../../plan/hosts";
import { prodRawConfig } from "../support/fixtures";
import { testToolBinary } from "../support/tool-script";

const plan = planStack(parseConfig(prodRawConfig()));
const frontend = plan.frontend;
const toolPath = frontend.hostTool.path;
const secret = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key-but-a-secret\n-----END PRIVATE KEY-----\n";
const envoy = frontend.envoy!;
const pm2 = frontend.pm2!;
const step = { toolPath, containerName: envoy.container.name, ...envoy.release };
const releaseFile = (path: string, content: string) => ({ path, mode: "0600", owner: "root:root", check: "none", content });

/** The tool's verdict on the request, without running it. */
function judged(call: ToolCall): { status: number | null; stdout: string; stderr: string } {
    const request = { ...JSON.parse(call.request), validateOnly: true };
    const run = spawnSync(testToolBinary(), [], { input: JSON.stringify(request), encoding: "utf8", timeout: 10_000 });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const calls: [string, ToolCall][] = [
    ["install-file", installFileCall(toolPath, { path: "/etc/limen/tls/privkey.pem", mode: "0600", owner: "root:root", check: "none", checkArgs: [], content: secret })],
    [
        "install-file",
        installFileCall(toolPath, {
            path: "/etc/limen/envoy/envoy.yaml",
            mode: "0644",
            owner: "root:root",
            check: "envoy",
            checkArgs: ["--envoy-image", envoy.image, "--mount", "/etc/limen/tls"],
            content: "static_resources: {}\n",
        }),
    ],
    ["remove-file", removeFileCall(toolPath, "/etc/limen/pm2/ecosystem.config.js")],
    ["apply-firewall", applyFirewallCall(toolPath, frontend.firewall.locations, frontend.firewall.ruleset, 60)],
    ["confirm-firewall", confirmFirewallCall(toolPath, frontend.firewall.locations, "a".repeat(64))],
    ["remove-firewall", removeFirewallCall(toolPath, frontend.firewall.locations)],
    ["pm2-enable", pm2EnableCall(toolPath, pm2.user, "/var/lib/limen/pm2", "/home/limen", pm2.logRotation.timer)],
    [
        "pm2-apply",
        pm2ApplyCall(
            toolPath,
            {
                user: pm2.user,
                ecosystemPath: "/etc/limen/pm2/ecosystem.config.js",
                apps: pm2.apps.map((app) => app.name),
                markerDir: "/var/lib/limen/pm2",
                loaded: pm2.loadedPaths,
                gate: pm2.gate,
            },
            [releaseFile("/etc/limen/pm2/ecosystem.config.js", "module.exports = {apps: []};\n"), releaseFile("/srv/limen-frontend/.env.production", secret)],
            [releaseFile("/srv/limen-frontend/.env.production", "A=0\n")],
        ),
    ],
    ["pm2-mark-loaded", pm2MarkLoadedCall(toolPath, pm2.user, "/var/lib/limen/pm2", pm2.loadedPaths)],
    ["pm2-save", pm2SaveCall(toolPath, pm2.user)],
    ["pm2-remove", pm2RemoveCall(toolPath, pm2.user, ["limen-frontend"], "/var/lib/limen/pm2", pm2.logRotation.timer)],
    [
        "envoy-release",
        envoyReleaseCall(
            {
                ...step,
                mode: "in-place",
                configPath: "/etc/limen/envoy/envoy.yaml",
                dynamicDir: envoy.dynamic.dir,
                versions: { lds: envoy.dynamic.lds.version, cds: envoy.dynamic.cds.version },
                order: "cds-first",
                previousVersions: { lds: "lds-0", cds: "cds-0" },
                rollbackOrder: "lds-first",
                image: envoy.image,
                mounts: envoy.certificateMounts,
            },
            {
                validate: envoy.validationBootstrap,
                candidate: envoy.candidateBootstrap,
                bootstrap: envoy.bootstrap,
                lds: envoy.dynamic.lds.content,
                cds: envoy.dynamic.cds.content,
                previousLds: envoy.dynamic.lds.content,
                previousCds: envoy.dynamic.cds.content,
            },
        ),
    ],
    ["envoy-settle", envoySettleCall(step)],
    ["envoy-forget", envoyForgetCall(toolPath, envoy.release.stateDir)],
    ["container-claim", containerClaimCall(toolPath, envoy.container.name, envoy.image)],
    ["tls-placeholder", tlsPlaceholderCall(toolPath, "/etc/limen/tls/limen", ["limen.example.com"])],
    [
        "acme-certificate",
        acmeCertificateCall(toolPath, {
            name: "limen",
            domains: ["limen.example.com", "www.limen.example.com"],
            email: "ops@example.com",
            server: "https://acme-v02.api.letsencrypt.org/directory",
            responderAddress: "127.0.0.1",
            responderPort: 402,
            lineageDir: "/etc/letsencrypt/live/limen",
            publishDir: "/etc/limen/tls/limen",
            hook: "/etc/letsencrypt/renewal-hooks/deploy/limen-publish",
        }),
    ],
    ["acme-remove", acmeRemoveCall(toolPath, "limen", "/etc/limen/tls/limen")],
    ["pm2-enable, then pm2-save", chainCalls(pm2EnableCall(toolPath, pm2.user, "/var/lib/limen/pm2", "/home/limen", pm2.logRotation.timer), pm2SaveCall(toolPath, pm2.user))],
];

describe("every request the providers build is one the host tool takes", () => {
    it.each(calls)("%s", (name, call) => {
        const verdict = judged(call);
        expect(verdict.stderr).toBe("");
        expect(verdict.status).toBe(0);
        expect(verdict.stdout).toBe(`valid ${JSON.parse(call.request).command}\n`);
        // The step runs the tool on its stdin; a chained first request is in the text and holds no content.
        expect(call.step.script).not.toContain("contentBase64");
        expect(call.step.script).not.toContain(Buffer.from(secret).toString("base64"));
        if (name.includes(", then")) expect(call.step.script).toContain("pm2-enable");
    });

    it("the check's arguments of a file installed by 1.x state (--envoy-image, --mount) become its fields; another is refused by name", () => {
        const call = installFileCall(toolPath, {
            path: "/x",
            mode: "0644",
            owner: "root:root",
            check: "envoy",
            checkArgs: ["--envoy-image", envoy.image, "--mount", "/a", "--mount", "/b"],
            content: "",
        });
        expect(JSON.parse(call.request)).toMatchObject({ envoyImage: envoy.image, mounts: ["/a", "/b"] });
        expect(() => installFileCall(toolPath, { path: "/x", mode: "0644", owner: "root:root", check: "none", checkArgs: ["--image", "x"], content: "" })).toThrow(
            /unknown check argument --image/,
        );
    });

    it("a request the tool does not take is refused by name, so this check can fail", () => {
        const call = removeFileCall(toolPath, "/etc/limen/x");
        const misspelt = { ...call, request: call.request.replace('"path"', '"paht"') };
        const verdict = judged(misspelt);
        expect(verdict.status).toBe(1);
        expect(verdict.stderr).toContain('unknown field "paht" in a remove-file request');
    });
});
