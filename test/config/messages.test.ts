/** The refusals' words (config/messages.ts): what was given and the rule, every problem at once, no secret. */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../config";
import { namedKeys, problemsOf } from "../support/config-problems";
import { prodRawConfig, withOverride } from "../support/fixtures";

const prod = prodRawConfig();

describe("a wrong type says what was given and the rule, never that the key is missing", () => {
    it.each([
        [
            "backend",
            { apiPort: "18443" },
            'limen:backend.apiPort = "18443": must be a TCP port: a whole number from 1 to 65535 (it is the text "18443", not a number: write it without quotes in Pulumi.<stack>.yaml, or set it with `pulumi config set --path \'limen:backend.apiPort\' 18443`)',
        ],
        ["backend", { apiPort: 18443.5 }, "limen:backend.apiPort = 18443.5: must be a TCP port: a whole number from 1 to 65535 (it is not a whole number)"],
        [
            "envoy",
            { enabled: "true" },
            'limen:envoy.enabled = "true": must be true or false (it is the text "true", not true or false: write it without quotes in Pulumi.<stack>.yaml, or set it with `pulumi config set --path \'limen:envoy.enabled\' true`)',
        ],
        [
            "ssh",
            { adminNetworks: "10.0.0.0/24" },
            "limen:ssh.adminNetworks = \"10.0.0.0/24\": must be a list of networks in CIDR form, such as [192.0.2.0/24, 2001:db8::/64] (it is one text, not a list: write it as a list even for one entry ([10.0.0.0/24]), or set it with `pulumi config set --path 'limen:ssh.adminNetworks[0]' 10.0.0.0/24`)",
        ],
        [
            "ssh",
            { port: null },
            "limen:ssh.port = null: must be a TCP port: a whole number from 1 to 65535 (it is empty (a key with no value): give it one, or remove the line to use the default)",
        ],
        ["domains", { limen: { name: "limen.darc.kr" } }, 'limen:domains.limen = {"name":"limen.darc.kr"}: must be a list of lower-case DNS names (it is a map)'],
    ])("%s %j", (key, patch, line) => {
        expect(problemsOf(withOverride(prod, key, patch))).toEqual([line]);
    });

    it("the rotation of pm2's logs: each limit names its key and range, the home must be a path", () => {
        expect(problemsOf(withOverride(prod, "apps", { logs: { maxSizeMb: 0, keep: 101 } }))).toEqual([
            "limen:apps.logs.maxSizeMb = 0: must be a whole number of megabytes from 1 to 10240",
            "limen:apps.logs.keep = 101: must be a whole number of rotated files from 1 to 100",
        ]);
        expect(problemsOf(withOverride(prod, "apps", { home: "home/limen" }))).toEqual([
            'limen:apps.home = "home/limen": must be an absolute path with no spaces, quotes, `$` or backslashes',
        ]);
        expect(problemsOf(withOverride(prod, "apps", { logs: { maxSizeMb: 10240, keep: 1, maxAgeDays: 3650 }, home: "/srv/home/limen" }))).toEqual([]);
    });

    it("ports at and past the edges", () => {
        for (const port of [1, 65535]) expect(problemsOf(withOverride(prod, "backend", { publicApiPorts: [port] }))).toEqual([]);
        for (const port of [0, 65536, -1]) {
            expect(problemsOf(withOverride(prod, "backend", { publicApiPorts: [port] }))).toEqual([
                `limen:backend.publicApiPorts[0] = ${port}: must be a TCP port: a whole number from 1 to 65535`,
            ]);
        }
    });

    it("a list or map set as one JSON text (`pulumi config set --path` without a path per entry) says how to set it", () => {
        const problems = problemsOf(withOverride(prod, "apps", { extraEnv: '{"LOG_LEVEL":"info"}' }));
        expect(problems).toEqual([
            expect.stringContaining(
                "it is one text holding JSON, not a map (`pulumi config set` stores what it is given as text): set each field on its own, for instance `pulumi config set --path 'limen:apps.extraEnv.LOG_LEVEL' info`",
            ),
        ]);
    });

    it("a whole key stored as text (what `pulumi config --json` reports) is refused as text, not read as JSON", () => {
        const raw = { ...prod, "limen:ssh": JSON.stringify({ user: "deploy", adminNetworks: ["10.0.0.0/24"] }) };
        expect(() => parseConfig(raw, undefined, { storedAsText: (key) => key === "limen:ssh" })).toThrow(
            /limen:ssh = .*: must be a map with the fields user, port, .* \(it is one text holding JSON, not a map .*`pulumi config set --path 'limen:ssh.user' deploy`/,
        );
        expect(parseConfig(raw).ssh.user).toBe("deploy");
    });

    it("a structured key set without --path names the command that sets it", () => {
        expect(problemsOf({ ...prod, "limen:ssh.port": "2222" })).toEqual([
            "limen:ssh.port: unknown key, set without --path: Pulumi keeps \"ssh.port\" as one key of that name, which this program never reads; remove it with `pulumi config rm 'limen:ssh.port'` and set it with `pulumi config set --path 'limen:ssh.port' <value>`",
        ]);
        expect(problemsOf({ ...prod, "limen:envProductionSecrets.TOKEN": "x" })).toEqual([
            expect.stringContaining("`pulumi config set --secret --path 'limen:envProductionSecrets.TOKEN' <value>`"),
        ]);
    });
});

describe("every problem at once: a rule runs whenever the keys it reads are fine", () => {
    it("a broken key does not hide a clash or a seed rule elsewhere in the same section", () => {
        const raw = withOverride(withOverride(prod, "backend", { hostKey: "none", publicApiPorts: [9000], internalClients: ["10.0.0.10", "203.0.113.9"] }), "ssh", {
            user: "root",
            port: 18443,
        });
        const problems = problemsOf(raw);
        expect(
            problems.map((problem) =>
                namedKeys(problem)
                    .filter((key) => problem.startsWith(key))
                    .join(" "),
            ),
        ).toEqual(["limen:ssh.user", "limen:ssh.port", "limen:backend.hostKey", "limen:backend.publicApiPorts[0]", "limen:backend.internalClients[1]"]);
    });

    it("a broken list entry leaves the other entries' rules running", () => {
        const problems = problemsOf(withOverride(prod, "backend", { publicApiPorts: ["8443", 18443] }));
        expect(problems).toEqual([
            expect.stringMatching(/^limen:backend\.publicApiPorts\[0\] = "8443": must be a TCP port/),
            expect.stringMatching(/limen:backend\.publicApiPorts\[1\] = 18443: the API port/),
        ]);
    });
});

describe("nothing of a secret reaches a message", () => {
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ib2R5LWZvci10ZXN0cw==\n-----END OPENSSH PRIVATE KEY-----\n";
    const thrown = (raw: Record<string, string>, isSecret?: (key: string) => boolean): ConfigError => {
        try {
            parseConfig(raw, isSecret);
        } catch (error) {
            if (error instanceof ConfigError) return error;
        }
        throw new Error("accepted");
    };

    it("a misspelled secret key (set with --secret) is named with the key it meant, its value never shown", () => {
        const error = thrown({ ...prod, "limen:sshPrivatekey": privateKey }, (key) => key === "limen:sshPrivateKey" || key === "limen:sshPrivatekey");
        expect(error.problems).toEqual([
            "limen:sshPrivatekey: unknown key: did you mean limen:sshPrivateKey? (unknown keys are errors, not ignored; every key is in the configuration table in docs/configuration.md)",
        ]);
        expect(error.message).not.toContain("c2VjcmV0");
    });

    it("the same misspelling in plain text is not shown either", () => {
        expect(thrown({ ...prod, "limen:ssh_private_key": privateKey }).message).not.toContain("c2VjcmV0");
    });

    it("a key Pulumi holds as secret (a --secret --path inside limen:apps) is described, never shown", () => {
        const raw = withOverride(prod, "apps", { extraEnv: { API_URL: "http://10.0.0.100:18443/?token=s3cr3t-t0ken" }, user: "root" });
        const error = thrown(raw, (key) => key === "limen:apps" || key === "limen:sshPrivateKey");
        expect(error.problems).toEqual([
            "limen:apps.user (secret): must not be root: the apps face the network through Envoy",
            expect.stringMatching(/^limen:apps\.extraEnv\.API_URL \(secret\): the secret value is an absolute URL to the backend/),
        ]);
        expect(error.message).not.toContain("s3cr3t");
    });

    it("a secret value of the wrong type, or with a name that may be a pasted value, is described without it", () => {
        const error = thrown({ ...prod, "limen:envProductionSecrets": JSON.stringify({ TOKEN: 123456789, "sk-live-0123456789": "x", NOTE: "s3cr3t'quote" }) });
        expect(error.problems).toEqual([
            "limen:envProductionSecrets.TOKEN (secret): must be text (one .env.production value) (it is a number)",
            "limen:envProductionSecrets (secret): one of its names is not an environment variable name: environment variable names are upper case letters, digits and underscores",
            "limen:envProductionSecrets.NOTE (secret): a .env.production value may not contain a newline or a single quote (Next.js's loader would not read it back unchanged)",
        ]);
        expect(error.message).not.toMatch(/123456789|sk-live|s3cr3t/);
    });
});
