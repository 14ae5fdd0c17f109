/** What the policies read (policy/rules), judged against the stack's own writers by Next.js's loader and nft. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../config";
import { backendFirewallSpec } from "../../../plan/firewall";
import { envFileSpec } from "../../../plan/files";
import { planStack } from "../../../plan/hosts";
import { hostKeyTypes, isHostKeyLine } from "../../../core/ssh-keys";
import { renderEnvFile } from "../../../render/env-file";
import { renderFirewall } from "../../../render/firewall";
import { parseEnv, parseLimenTable } from "../../../policy/rules";
import { ed25519HostKey, prodRawConfig, withOverride } from "../../support/fixtures";
import { prod, other, graphFor, backendTable, sshField, sshMpint, hostKeyLineOf } from "../../support/policy-graphs";
import { useMockedStack } from "../../support/stack-registrations";

useMockedStack();

describe("what the policies read, judged against the stack's own writers", () => {
    it("parseEnv reads back what renderEnvFile writes, as Next.js's loader does", () => {
        const spec = { ...envFileSpec(other), extra: { LOG_LEVEL: "info", QUOTED: "a $b 'c", SPACED: "x y" } };
        expect(() => renderEnvFile(spec)).toThrow(/single quote/);
        const text = renderEnvFile({ ...spec, extra: { LOG_LEVEL: "info", DOLLAR: "a$b", SPACED: "x y # z" } });
        const dir = mkdtempSync(path.join(tmpdir(), "limen-policy-env-"));
        writeFileSync(path.join(dir, ".env.production"), text);
        const script = `process.stdout.write(JSON.stringify(require("@next/env").loadEnvConfig(process.argv[1], false, { info() {}, error(e) { throw e; } }).parsedEnv))`;
        const next = JSON.parse(execFileSync(process.execPath, ["-e", script, dir], { encoding: "utf8", env: { PATH: process.env.PATH, NODE_ENV: "production" } }));
        expect(Object.fromEntries(parseEnv(text))).toEqual(next);
    });

    it.each([
        ["prod backend", backendFirewallSpec(prod), ""],
        ["second stack backend", backendFirewallSpec(other), ""],
        ["with an added element", backendFirewallSpec(prod), "add element inet limen_firewall internal_clients_v4 { 203.0.113.5 }\n"],
    ])("parseLimenTable lists the sets nft loads for the %s ruleset", (_label, spec, extra) => {
        const ruleset = renderFirewall(spec) + extra;
        const file = path.join(mkdtempSync(path.join(tmpdir(), "limen-policy-nft-")), "ruleset.nft");
        writeFileSync(file, ruleset);
        const listed = JSON.parse(execFileSync("unshare", ["--net", "sh", "-c", `nft -f ${file} && nft -j list table inet limen_firewall`], { encoding: "utf8" })) as {
            nftables: { set?: { name: string; elem?: unknown[] } }[];
        };
        const element = (e: unknown): string => (typeof e === "object" && e !== null && "prefix" in e ? `${(e as any).prefix.addr}/${(e as any).prefix.len}` : String(e));
        const fromNft = Object.fromEntries(listed.nftables.filter((o) => o.set).map((o) => [o.set!.name, (o.set!.elem ?? []).map(element).sort()]));
        const parsed = Object.fromEntries([...parseLimenTable(ruleset).sets].map(([name, elements]) => [name, [...elements].sort()]));
        expect(parsed).toEqual(fromNft);
        expect(parseLimenTable(ruleset).chains.get("input")).toMatch(/policy drop;/);
    });

    it("the plan's firewall ruleset is what the FirewallTable carries", async () => {
        const graph = await graphFor(prodRawConfig());
        expect(graph.find((r) => r.name === backendTable)!.wire.ruleset).toBe(planStack(prod).backend.firewall.ruleset);
    });

    it("isHostKeyLine accepts what ssh-keyscan prints and the fixtures' keys", () => {
        expect(isHostKeyLine(ed25519HostKey())).toBe(true);
        expect(isHostKeyLine(`${ed25519HostKey()} root@frontend`)).toBe(true);
        expect(isHostKeyLine("ssh-ed25519")).toBe(false);
    });

    it.each(hostKeyTypes)("the config schema and the policy both accept a %s host key", (type) => {
        const line = hostKeyLineOf(type);
        expect(isHostKeyLine(line)).toBe(true);
        expect(parseConfig(withOverride(prodRawConfig(), "backend", { hostKey: line })).backend.hostKey).toBe(line);
    });

    it.each([
        [
            "a security-key type",
            `sk-ssh-ed25519@openssh.com ${Buffer.concat([sshField("sk-ssh-ed25519@openssh.com"), sshField(Buffer.alloc(32, 7)), sshField("ssh:")]).toString("base64")}`,
        ],
        ["DSA", `ssh-dss ${Buffer.concat([sshField("ssh-dss"), ...[1, 2, 3, 4].map((n) => sshMpint(Buffer.alloc(20, n)))]).toString("base64")}`],
        ["an ECDSA key relabelled with another curve", hostKeyLineOf("ecdsa-sha2-nistp256").replace(/^\S+/, "ecdsa-sha2-nistp384")],
        ["a key with a field cut off", `ssh-rsa ${sshField("ssh-rsa").toString("base64")}`],
    ])("the config schema and the policy both refuse %s", (_label, line) => {
        expect(isHostKeyLine(line)).toBe(false);
        expect(() => parseConfig(withOverride(prodRawConfig(), "backend", { hostKey: line }))).toThrow(/limen:backend\.hostKey/);
    });
});
