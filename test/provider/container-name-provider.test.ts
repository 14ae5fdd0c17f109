/** The container name's provider (provider/container-name-provider.ts): its judgement of the host tool's answer. */
import { describe, expect, it } from "vitest";
import { containerNameProvider, ContainerNameInputs, judgeHolder } from "../../provider/container-name-provider";
import { containerNameFree } from "../../core/resource-types";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const labImage = `registry.lab.test:5000/limen-lab/envoy@${digest("a")}`;

describe("the container name's provider", () => {
    it.each([
        ["none", containerNameFree],
        [`planned c1 ${digest("1")}`, containerNameFree],
        [`stack c1 ${digest("1")}`, containerNameFree],
        [`foreign 0123456789abcdef ${digest("2")}`, `container 0123456789ab, running image ${digest("2")}, not the stack's`],
    ])("judges %j as %j", (answer, fact) => {
        expect(judgeHolder(`${answer}\n`)).toBe(fact);
    });

    it("refuses an answer it does not know", () => {
        expect(() => judgeHolder("maybe")).toThrow(/unexpected answer about the container name: "maybe"/);
    });

    it("changes something only when a refresh found the name held by someone else", async () => {
        const inputs = (holder: string): ContainerNameInputs => ({
            connection: { role: "frontend", address: "198.51.100.10", port: 22, user: "deploy", hostKey: "ssh-ed25519 AAAA", privateKey: "" } as ContainerNameInputs["connection"],
            toolPath: "/usr/local/libexec/limen/limen-host",
            name: "limen-envoy",
            image: labImage,
            holder,
        });
        expect(await containerNameProvider.diff("id", inputs(containerNameFree), inputs(containerNameFree))).toEqual({ changes: false });
        expect(await containerNameProvider.diff("id", inputs(judgeHolder(`foreign c2 ${digest("2")}`)), inputs(containerNameFree))).toEqual({ changes: true });
    });
});
