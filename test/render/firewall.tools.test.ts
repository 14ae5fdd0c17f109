/** nftables rulesets (render/firewall.ts), judged by nft in a fresh network namespace. */
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { backendFirewallSpec, frontendFirewallSpec } from "../../plan/firewall";
import { renderFirewall } from "../../render/firewall";
import { otherRawConfig, prodRawConfig } from "../support/fixtures";
import { scratchFile } from "../support/scratch-file";

const prod = parseConfig(prodRawConfig());
const other = parseConfig(otherRawConfig());

/** `nft -c -f` in a fresh network namespace: the real parser and kernel checks, no effect on this host. */
function nftCheck(ruleset: string): { status: number | null; stderr: string } {
    const result = spawnSync("unshare", ["--net", "nft", "-c", "-f", scratchFile("ruleset.nft", ruleset)], { encoding: "utf8" });
    return { status: result.status, stderr: result.stderr };
}

/** Applies the ruleset twice in a fresh namespace and lists the table, as a host would after two runs. */
function nftApplyTwice(ruleset: string): string {
    const file = scratchFile("ruleset.nft", ruleset);
    return execFileSync("unshare", ["--net", "sh", "-c", `nft -f ${file} && nft -f ${file} && nft list table inet limen_firewall`], { encoding: "utf8" });
}

describe("nftables rulesets, judged by nft", () => {
    it.each([
        ["backend", prod, backendFirewallSpec],
        ["frontend", prod, frontendFirewallSpec],
        ["backend (IPv6, public port)", other, backendFirewallSpec],
        ["frontend (IPv6 admin)", other, frontendFirewallSpec],
    ] as const)("%s passes nft -c and applies on a fresh host and again over itself", (_label, config, spec) => {
        const ruleset = renderFirewall(spec(config));
        expect(nftCheck(ruleset)).toMatchObject({ status: 0, stderr: "" });
        const listed = nftApplyTwice(ruleset);
        expect(listed).toContain("hook prerouting priority mangle; policy accept;");
        expect(listed).toContain("hook input priority filter; policy drop;");
    });

    it("nft rejects a broken ruleset (the check can fail)", () => {
        const broken = renderFirewall(backendFirewallSpec(prod)).replace("tcp dport @public_ports accept", "tcp dport @no_such_set accept");
        const result = nftCheck(broken);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(/no_such_set/);
    });

    it("the backend keeps 18443 and 9000 to the frontend, on IPv4 and IPv6, before NAT and at input", () => {
        const listed = nftApplyTwice(renderFirewall(backendFirewallSpec(other)));
        expect(listed).toMatch(/set internal_ports \{[^}]*elements = \{ 9100, 18443 \}/s);
        expect(listed).toMatch(/set internal_clients_v4 \{[^}]*elements = \{ 192\.0\.2\.10 \}/s);
        expect(listed).toMatch(/set internal_clients_v6 \{[^}]*elements = \{ 2001:db8::10 \}/s);
        const prerouting = listed.slice(listed.indexOf("chain prerouting"), listed.indexOf("chain input"));
        expect(prerouting).toMatch(/tcp dport @guarded_ports counter packets \d+ bytes \d+ drop/);
        expect(prerouting.indexOf("ip saddr @internal_clients_v4 accept")).toBeLessThan(prerouting.indexOf("@guarded_ports"));
        expect(listed).toMatch(/set public_ports \{[^}]*elements = \{ 8443 \}/s);
    });

    it("the frontend opens 80/443, guards 9444/9445 and certbot's responder (Envoy's admin is a unix socket), and SSH only from admin networks", () => {
        const ruleset = renderFirewall(frontendFirewallSpec(prod));
        const listed = nftApplyTwice(ruleset);
        expect(listed).toMatch(/set public_ports \{[^}]*elements = \{ 80, 443 \}/s);
        expect(listed).toMatch(/set guarded_ports \{[^}]*elements = \{ 402, 9444, 9445 \}/s);
        expect(listed).toMatch(/set admin_v4 \{[^}]*elements = \{ 10\.0\.0\.0\/24 \}/s);
        expect(listed).toMatch(/tcp dport 22 ip saddr @admin_v4 accept/);
        expect(ruleset).not.toMatch(/flush ruleset/);
    });
});
