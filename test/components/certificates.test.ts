/** Certificates from ACME (components/certificates.ts): per site or one for all. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { planStack } from "../../plan/hosts";
import { prodRawConfig, withOverride } from "../support/fixtures";
import { hostType, registrationsFor, useMockedStack } from "../support/stack-registrations";

useMockedStack();

describe("certificates from ACME: per site or one for all", () => {
    const acme = (certificates: "per-site" | "single") => withOverride(prodRawConfig(), "tls", JSON.stringify({ source: "acme", email: "ops@darc.kr", certificates }));

    it("single: one certificate, `sites`, covering every domain, one SDS secret and no SNI choice to make", async () => {
        const plan = planStack(parseConfig(acme("single")));
        expect(plan.frontend.certificates.map((c) => [c.name, c.domains, c.chainPath])).toEqual([
            ["sites", ["limen.darc.kr", "darc.kr", "www.darc.kr"], "/etc/limen/tls/sites/current/fullchain.pem"],
        ]);
        expect(plan.frontend.envoy!.spec.tls).toEqual({
            mode: "sds",
            certificates: [{ name: "sites", serverNames: ["limen.darc.kr", "darc.kr", "www.darc.kr"], sdsPath: "/etc/limen/envoy/sds/sites.yaml" }],
        });
        const names = (await registrationsFor(acme("single"))).filter((r) => r.type === hostType("AcmeCertificate")).map((r) => r.name);
        expect(names.sort()).toEqual(["frontend-certificates-sites", "frontend-certificates-sites-placeholder"]);
    });

    it("per-site: the responder port is kept local by the frontend's firewall, and certbot's hook publishes each lineage", () => {
        const plan = planStack(parseConfig(acme("per-site")));
        expect(plan.frontend.firewall.ruleset).toMatch(/402/);
        expect(
            planStack(
                parseConfig(
                    withOverride(prodRawConfig(), "tls", JSON.stringify({ source: "host-files", certificateChainPath: "/etc/ssl/a.pem", privateKeyPath: "/etc/ssl/a.key" })),
                ),
            ).frontend.firewall.ruleset,
        ).not.toMatch(/402/);
        const hook = plan.frontend.files.find((file) => file.name === "acme-renewal-hook")!;
        expect(hook.content).toContain(
            [
                "    /etc/letsencrypt/live/limen)",
                "        exec /usr/local/libexec/limen/limen-host <<'LIMEN_REQUEST'",
                '{"command":"tls-publish","output":"text","lineageDir":"/etc/letsencrypt/live/limen","publishDir":"/etc/limen/tls/limen","domains":["limen.darc.kr"]}',
                "LIMEN_REQUEST",
                "        ;;",
            ].join("\n"),
        );
        expect(hook.content).toContain('"publishDir":"/etc/limen/tls/darc","domains":["darc.kr","www.darc.kr"]}\nLIMEN_REQUEST\n        ;;');
        expect(hook.content).toContain("    *) exit 0 ;;");
    });
});
