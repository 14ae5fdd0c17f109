/** remote-connections-pin-host-keys (policy/rules/ssh.ts). */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { sshOptions } from "../../../policy/rules";
import { ed25519HostKey, prodRawConfig, rawConfigFromStackFile } from "../../support/fixtures";
import { isSecretOnWire, plainOnWire } from "../../support/mocks";
import { runResourcePolicy, violationsOf } from "../../support/policy-harness";
import { graphFor, changed, addedOnHost, setPlain, backendTable, connectionOf, sshField } from "../../support/policy-graphs";
import { useMockedStack } from "../../support/stack-registrations";

useMockedStack();

describe("remote-connections-pin-host-keys", () => {
    const placeholder = (JSON.parse(rawConfigFromStackFile("Pulumi.prod.yaml")["limen:backend"]!) as { hostKey: string }).hostKey;
    const skKey = `sk-ssh-ed25519@openssh.com ${Buffer.concat([sshField("sk-ssh-ed25519@openssh.com"), sshField(Buffer.alloc(32, 7)), sshField("ssh:")]).toString("base64")}`;

    it.each([
        ["empty", ""],
        ["blank", "   "],
        ["Pulumi.prod.yaml's placeholder", placeholder],
        ["a key of another type than it claims", ed25519HostKey().replace("ssh-ed25519", "ssh-rsa")],
        ["a truncated key", ed25519HostKey().slice(0, 40)],
        ["a security-key type, which the config refuses too", skKey],
    ])("refuses a host resource whose hostKey is %s", async (_label, hostKey) => {
        const graph = changed(await graphFor(prodRawConfig()), backendTable, (wire) => {
            connectionOf(wire).hostKey = hostKey;
        });
        const outcomes = await runResourcePolicy("remote-connections-pin-host-keys", graph);
        expect(violationsOf(outcomes)).toEqual([expect.stringMatching(/^limen:host:FirewallTable "backend-firewall-table": connection\.hostKey /)]);
    });

    it("refuses a host resource with no hostKey at all", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-pm2", (wire) => {
            delete connectionOf(wire).hostKey;
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringMatching(/^limen:host:Pm2Apps "frontend-apps-pm2": connection\.hostKey is not set/),
        ]);
    });

    it("refuses a host resource with no connection", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-ecosystem", (wire) => {
            delete wire.connection;
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringContaining(`"frontend-apps-ecosystem": has no connection to check`),
        ]);
    });

    it("checks any resource with a connection, whatever its type, and its jump host", async () => {
        const graph = addedOnHost(await graphFor(prodRawConfig()), "frontend-apps-pm2", "command:remote:Command", "hand-written", {
            connection: { host: "10.0.0.10", user: "deploy", hostKey: ed25519HostKey(), proxy: { host: "10.0.0.1", user: "jump" } },
            create: "true",
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringMatching(/^command:remote:Command "hand-written": connection\.proxy\.hostKey is not set/),
        ]);
    });

    it.each([
        [
            "StrictHostKeyChecking=no",
            (opts: string[]) => opts.map((o) => o.replace("StrictHostKeyChecking=yes", "StrictHostKeyChecking=no")),
            /StrictHostKeyChecking=yes.*found StrictHostKeyChecking=no/,
        ],
        [
            "an earlier StrictHostKeyChecking=accept-new (ssh takes the first)",
            (opts: string[]) => ["-oStrictHostKeyChecking=accept-new", ...opts],
            /found StrictHostKeyChecking=accept-new/,
        ],
        [
            "no StrictHostKeyChecking",
            (opts: string[]) => opts.filter((o, i) => !o.startsWith("StrictHostKeyChecking") && !opts[i + 1]?.startsWith("StrictHostKeyChecking")),
            /StrictHostKeyChecking=yes.*found none/,
        ],
        ["UserKnownHostsFile=/dev/null", (opts: string[]) => opts.map((o) => o.replace(/UserKnownHostsFile=.*/, "UserKnownHostsFile=/dev/null")), /UserKnownHostsFile=\/dev\/null/],
    ])("refuses Docker's ssh:// with %s", async (_label, edit, message) => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-envoy-docker", (wire) => {
            setPlain(wire, "sshOpts", JSON.stringify(edit(JSON.parse(plainOnWire(wire.sshOpts) as string) as string[])));
        });
        const messages = violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph));
        expect(messages).toEqual([expect.stringMatching(message)]);
        expect(messages[0]).toMatch(/^pulumi:providers:docker "frontend-envoy-docker": ssh:\/\/deploy@10\.0\.0\.10:22 /);
    });

    it("refuses Docker sshOpts it cannot read, rather than guessing", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-envoy-docker", (wire) => {
            setPlain(wire, "sshOpts", "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/tmp/k");
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringContaining("sshOpts cannot be read as a list of ssh arguments"),
        ]);
    });

    it("the Docker provider's sshOpts arrive JSON-encoded and secret, and are read", async () => {
        const docker = (await graphFor(prodRawConfig())).find((r) => r.name === "frontend-envoy-docker")!;
        expect(isSecretOnWire(docker.wire.sshOpts)).toBe(true);
        expect(sshOptions(JSON.parse(plainOnWire(docker.wire.sshOpts) as string))).toEqual([
            ["identityagent", expect.stringMatching(/agent\.sock$/)],
            ["identitiesonly", "yes"],
            ["stricthostkeychecking", "yes"],
            ["userknownhostsfile", expect.stringMatching(/known_hosts$/)],
        ]);
    });

    it("skips a connection unknown during preview", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "backend-host-tool", (wire) => {
            wire.connection = unknownValue;
        });
        expect((await runResourcePolicy("remote-connections-pin-host-keys", graph)).get("backend-host-tool")).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("connection is unknown during preview"),
        });
    });
});
