/**
 * The Ansible peer that bench:lab times the stack against (lab/ansible-peer) must do the same job: on
 * the hosts, bench:lab stops when the peer finds something to change after the stack converged, which
 * catches differing content but not an artifact the peer leaves out. This catches that: every artifact
 * of the lab stack's plan is in the peer's inventory, byte for byte, with the same path, mode and owner.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { StackPlan } from "../../plan/hosts";
import { labPlan, writePeerInventory } from "../../lab/ansible-peer/render";
import { labConfig } from "../../lab/stack";
import type { LabHost, LabHosts } from "../../lab/stack";
import { plainOnWire } from "../support/mocks";
import { hostType, registrationsFor, useMockedStack } from "../support/stack-registrations";
import { ed25519HostKey, fakePrivateKey } from "../support/fixtures";

interface PeerHost {
    ansible_host: string;
    ansible_ssh_common_args: string;
    ansible_ssh_private_key_file: string;
    host_tool: { path: string; src: string };
    firewall: { table: string; ruleset_path: string; ruleset_src: string; unit_name: string; unit_path: string; unit_src: string };
    app_files: { path: string; mode: string; owner: string; group: string; src: string }[];
    pm2: { user: string; ecosystem: string; apps: string[] } | null;
    envoy: {
        image: string;
        files: PeerHost["app_files"];
        config_path: string;
        validation_src: string;
        admin_dir: string;
        name: string;
        run_args: string[];
        command: string[];
    } | null;
}

const labHost = (name: string, last: number): LabHost => ({
    name,
    namespace: `limen-${name}`,
    ipv4: `198.51.100.${last}`,
    ipv6: `2001:db8::${last}`,
    sshPort: 22,
    user: "deploy",
    hostKey: ed25519HostKey(),
});

useMockedStack();

let dir: string;
let hosts: LabHosts;
let inventoryText: string;
let peer: Record<"frontend" | "backend", PeerHost>;
let plan: StackPlan;

beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "limen-peer-test-"));
    const keyPath = path.join(dir, "deploy_ed25519");
    writeFileSync(keyPath, fakePrivateKey, { mode: 0o600 });
    hosts = {
        operator: { namespace: "limen-operator", ipv4: "198.51.100.2", ipv6: "2001:db8::2" },
        deployPrivateKeyPath: keyPath,
        hosts: { frontend: labHost("frontend", 10), backend: labHost("backend", 100), outsider: labHost("outsider", 200) },
        envoyImage: `registry.lab.test:5000/limen-lab/envoy@sha256:${"e".repeat(64)}`,
    };
    inventoryText = readFileSync(writePeerInventory(hosts, path.join(dir, "peer")), "utf8");
    peer = (parse(inventoryText) as { all: { hosts: Record<"frontend" | "backend", PeerHost> } }).all.hosts;
    plan = labPlan(hosts);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const contentOf = (file: string) => readFileSync(file, "utf8");

describe("the Ansible peer installs what the lab stack's plan installs", () => {
    it.each(["frontend", "backend"] as const)("%s: the host tool, the ruleset and its boot unit, byte for byte", (role) => {
        const host = peer[role];
        const planned = plan[role];
        expect(host.ansible_host).toBe(planned.ssh.address);
        expect(host.host_tool.path).toBe(planned.hostTool.path);
        expect(contentOf(host.host_tool.src)).toBe(planned.hostTool.content);
        expect(host.firewall).toMatchObject({
            table: planned.firewall.locations.table,
            ruleset_path: planned.firewall.locations.bootRuleset,
            unit_name: planned.firewall.locations.unitName,
            unit_path: planned.firewall.locations.unitPath,
        });
        expect(contentOf(host.firewall.ruleset_src)).toBe(planned.firewall.ruleset);
        expect(contentOf(host.firewall.unit_src)).toBe(planned.firewall.bootUnit.content);
    });

    it.each(["frontend", "backend"] as const)("%s: every file the stack registers (its HostFile resources under mocks), with its path, mode, owner and content", async (role) => {
        // What the stack really asks its provider to install, not the plan the inventory was rendered
        // from: a file the components register outside the plan's list would be missed by the peer.
        const raw = { ...Object.fromEntries(Object.entries(labConfig(hosts)).map(([key, value]) => [key, JSON.stringify(value)])), "limen:sshPrivateKey": fakePrivateKey };
        const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
        const registered = (await registrationsFor(raw))
            .filter((r) => r.type === hostType("HostFile") && r.wire.kind !== "host-tool")
            .filter((r) => (plainOnWire(r.wire.connection) as { role: string }).role === role)
            .map((r) => ({ path: String(r.wire.path), mode: String(r.wire.mode), owner: String(r.wire.owner), content: String(plainOnWire(r.wire.content)) }))
            .sort(byPath);
        const installed = [...peer[role].app_files, ...(peer[role].envoy?.files ?? [])]
            .map((file) => ({
                path: file.path,
                mode: file.mode,
                owner: `${file.owner}:${file.group}`,
                content: contentOf(file.src),
            }))
            .sort(byPath);
        // The frontend has its apps' and Envoy's files; the backend none beside its tool and firewall.
        expect(registered.length > 0).toBe(role === "frontend");
        expect(installed).toEqual(registered);
    });

    it("the frontend's pm2 apps, user and ecosystem are the plan's; the backend has none", () => {
        const pm2 = plan.frontend.pm2!;
        expect(peer.frontend.pm2).toMatchObject({ user: pm2.user, ecosystem: pm2.ecosystemPath, apps: pm2.apps.map((app) => app.name) });
        expect(peer.backend.pm2).toBeNull();
        expect(plan.backend.pm2).toBeUndefined();
    });

    it("the frontend's Envoy container is the plan's: image by digest, name, command, read-only mounts, its admin directory and the config's label; the backend has none", () => {
        const envoy = plan.frontend.envoy!;
        expect(peer.frontend.envoy).toMatchObject({
            image: hosts.envoyImage,
            name: envoy.container.name,
            command: envoy.container.command,
            config_path: "/etc/limen/envoy/envoy.yaml",
        });
        expect(peer.frontend.envoy!.run_args).toEqual([
            "--network=host",
            "--restart=unless-stopped",
            "--env=ENVOY_UID=0",
            "--mount=type=bind,source=/etc/limen/envoy/envoy.yaml,target=/etc/envoy/envoy.yaml,readonly",
            "--mount=type=bind,source=/etc/limen/envoy/dynamic,target=/etc/envoy/dynamic,readonly",
            ...envoy.certificateMounts.map((dir) => `--mount=type=bind,source=${dir},target=${dir},readonly`),
            "--mount=type=bind,source=/var/lib/limen/envoy/admin/limen-envoy,target=/run/limen-envoy",
            `--label=limen.envoy.container-sha256=${envoy.containerSha256}`,
        ]);
        expect(peer.frontend.envoy!.admin_dir).toBe("/var/lib/limen/envoy/admin/limen-envoy");
        expect(contentOf(peer.frontend.envoy!.validation_src)).toBe(envoy.validationBootstrap);
        expect(peer.backend.envoy).toBeNull();
    });

    it("pins each host's key and holds no private key, only its path", () => {
        const knownHosts = contentOf(path.join(dir, "peer", "known_hosts"));
        expect(knownHosts).toBe(`${plan.frontend.ssh.address} ${plan.frontend.ssh.hostKey}\n${plan.backend.ssh.address} ${plan.backend.ssh.hostKey}\n`);
        for (const host of Object.values(peer)) {
            expect(host.ansible_ssh_common_args).toContain("StrictHostKeyChecking=yes");
            expect(host.ansible_ssh_private_key_file).toBe(hosts.deployPrivateKeyPath);
        }
        expect(inventoryText).not.toContain("PRIVATE KEY");
    });
});
