/**
 * The Ansible peer that bench:lab times the stack against (lab/ansible-peer) must do the same job: on
 * the hosts, bench:lab stops when the peer finds something to change after the stack converged, which
 * catches differing content but not an artifact the peer leaves out. This catches that: every artifact
 * the lab stack registers under Pulumi's mocks (what its provider and the Docker provider are asked to
 * put on the hosts, not the plan the inventory is rendered from) is in the peer's inventory, byte for
 * byte, with the same path, mode and owner.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { writePeerInventory } from "../../lab/ansible-peer/render";
import { labConfig } from "../../lab/stack";
import type { LabHost, LabHosts } from "../../lab/stack";
import { plainOnWire, Registration } from "../support/mocks";
import { byName, hostType, registrationsFor, useMockedStack } from "../support/stack-registrations";
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
let registrations: Registration[];
/** A registration's inputs as plain values (secrets unwrapped), by the resource's name. */
let registered: (name: string) => Record<string, unknown>;

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
});

beforeAll(async () => {
    // What the stack really asks its providers to do, not the plan the inventory was rendered from.
    const raw = { ...Object.fromEntries(Object.entries(labConfig(hosts)).map(([key, value]) => [key, JSON.stringify(value)])), "limen:sshPrivateKey": fakePrivateKey };
    registrations = await registrationsFor(raw);
    const named = byName(registrations);
    registered = (name) => {
        const registration = named.get(name);
        if (!registration) throw new Error(`the lab stack registers no resource named ${name}`);
        return Object.fromEntries(Object.entries(registration.wire).map(([key, value]) => [key, plainOnWire(value)]));
    };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const contentOf = (file: string) => readFileSync(file, "utf8");

describe("the Ansible peer installs what the lab stack's plan installs", () => {
    it.each(["frontend", "backend"] as const)("%s: the host tool, the ruleset and its boot unit, byte for byte", (role) => {
        const host = peer[role];
        const tool = registered(`${role}-host-tool`);
        const firewall = registered(`${role}-firewall-table`);
        const locations = firewall.locations as Record<string, string>;
        expect(host.ansible_host).toBe((tool.connection as { address: string }).address);
        expect(host.ansible_host).toBe(hosts.hosts[role].ipv4);
        expect(host.host_tool.path).toBe(tool.path);
        // The tool's bytes are no input of its resource: the peer's copy is the binary with the planned sha256.
        expect(tool).not.toHaveProperty("content");
        expect(createHash("sha256").update(readFileSync(host.host_tool.src)).digest("hex")).toBe(tool.contentSha256);
        expect(host.firewall).toMatchObject({
            table: firewall.table,
            ruleset_path: locations.bootRuleset,
            unit_name: locations.unitName,
            unit_path: locations.unitPath,
        });
        expect(contentOf(host.firewall.ruleset_src)).toBe(firewall.ruleset);
        expect(contentOf(host.firewall.unit_src)).toBe(firewall.bootUnitContent);
    });

    it.each(["frontend", "backend"] as const)("%s: every file the stack registers (its HostFile resources under mocks), with its path, mode, owner and content", async (role) => {
        const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
        const files = registrations
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
        expect(files.length > 0).toBe(role === "frontend");
        expect(installed).toEqual(files);
    });

    it("the frontend's pm2 apps, user and ecosystem are those of the stack's Pm2Apps; the backend has none", () => {
        const pm2 = registered("frontend-apps-pm2");
        expect(peer.frontend.pm2).toMatchObject({ user: pm2.user, ecosystem: pm2.ecosystemPath, apps: (pm2.apps as { name: string }[]).map((app) => app.name) });
        expect(peer.frontend.pm2!.apps).toEqual(["limen-frontend", "darc-kr"]);
        expect(peer.backend.pm2).toBeNull();
        expect(registrations.filter((r) => r.type === hostType("Pm2Apps")).map((r) => r.name)).toEqual(["frontend-apps-pm2"]);
    });

    it("the frontend's Envoy container is the one the stack asks the Docker provider for: image by digest, name, command, every mount, label and log option; the backend has none", () => {
        const container = registered("frontend-envoy-container");
        const release = registered("frontend-envoy-release");
        const mounts = container.mounts as { source: string; target: string; readOnly?: boolean }[];
        const labels = container.labels as { label: string; value: string }[];
        expect(peer.frontend.envoy).toMatchObject({
            image: registered("frontend-envoy-image").name,
            name: container.name,
            command: container.command,
            config_path: release.configPath,
        });
        expect(peer.frontend.envoy!.image).toBe(hosts.envoyImage);
        // `docker run` arguments, built here from the Docker provider's inputs.
        expect(container).toMatchObject({ networkMode: "host", restart: "unless-stopped", logDriver: "json-file" });
        expect(peer.frontend.envoy!.run_args).toEqual([
            "--network=host",
            "--restart=unless-stopped",
            ...(container.envs as string[]).map((env) => `--env=${env}`),
            ...mounts.map((mount) => `--mount=type=bind,source=${mount.source},target=${mount.target}${mount.readOnly ? ",readonly" : ""}`),
            ...labels.map((label) => `--label=${label.label}=${label.value}`),
            "--log-driver=json-file",
            ...Object.entries(container.logOpts as Record<string, string>)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([key, value]) => `--log-opt=${key}=${value}`),
        ]);
        // The one mount Envoy writes to: its admin socket's directory.
        expect(mounts.filter((mount) => !mount.readOnly).map((mount) => mount.source)).toEqual([peer.frontend.envoy!.admin_dir]);
        expect(contentOf(peer.frontend.envoy!.validation_src)).toBe(release.validationBootstrap);
        expect(peer.backend.envoy).toBeNull();
    });

    it("pins each host's key and holds no private key, only its path", () => {
        const knownHosts = contentOf(path.join(dir, "peer", "known_hosts"));
        const pinned = (["frontend", "backend"] as const).map((role) => registered(`${role}-host-tool`).connection as { address: string; hostKey: string });
        expect(knownHosts).toBe(pinned.map((connection) => `${connection.address} ${connection.hostKey}\n`).join(""));
        expect(pinned.map((connection) => connection.hostKey)).toEqual([hosts.hosts.frontend.hostKey, hosts.hosts.backend.hostKey]);
        for (const host of Object.values(peer)) {
            expect(host.ansible_ssh_common_args).toContain("StrictHostKeyChecking=yes");
            expect(host.ansible_ssh_private_key_file).toBe(hosts.deployPrivateKeyPath);
        }
        expect(inventoryText).not.toContain("PRIVATE KEY");
    });
});
