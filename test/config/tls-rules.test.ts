/** Certificates (config/tls-rules.ts): limen:tls.source "acme", and certificates that must cover the domains. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { problemsOf } from "../support/config-problems";
import { fakePrivateKey, fixtureCertificate, prodRawConfig, withOverride } from "../support/fixtures";

const prod = prodRawConfig();

describe('certificates: limen:tls.source "acme", and certificates that must cover the domains', () => {
    const acme = (fields: Record<string, unknown>) => ({ ...prod, "limen:tls": JSON.stringify({ source: "acme", email: "ops@darc.kr", ...fields }) });

    it("takes acme with Let's Encrypt, one certificate per site and responder port 402 by default", () => {
        const config = parseConfig(acme({}));
        expect(config.tls).toEqual({
            source: "acme",
            email: "ops@darc.kr",
            directoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
            certificates: "per-site",
            responderPort: 402,
        });
    });

    it("refuses an e-mail that is not an address and a directory that is not https, naming the key and the rule", () => {
        expect(problemsOf(acme({ email: "ops at darc.kr" }))).toEqual([
            'limen:tls.email = "ops at darc.kr": must be an e-mail address such as ops@darc.kr (the ACME account\'s contact)',
        ]);
        expect(problemsOf(acme({ directoryUrl: "http://acme.example.org/directory" }))).toEqual([
            'limen:tls.directoryUrl = "http://acme.example.org/directory": must be an ACME directory URL on https, such as https://acme-v02.api.letsencrypt.org/directory',
        ]);
        expect(problemsOf(acme({ certificates: "each" }))).toEqual([
            expect.stringMatching(/^limen:tls\.certificates = "each": must be "per-site" \(one certificate for limen:domains\.limen/),
        ]);
    });

    it("refuses a wildcard domain, which HTTP-01 cannot prove, naming the domain and the source", () => {
        const raw = withOverride(acme({}), "domains", { darc: ["darc.kr", "*.darc.kr"] });
        expect(problemsOf(raw)).toEqual([
            expect.stringMatching(
                /^limen:domains\.darc\[1\] = "\*\.darc\.kr" and limen:tls\.source = "acme": no certificate can cover \*\.darc\.kr: ACME's HTTP-01 challenge cannot prove a wildcard name/,
            ),
        ]);
    });

    it("refuses a responder port another service of the frontend uses, and a TLS key secret that acme would never use", () => {
        expect(problemsOf(acme({ responderPort: 22 }))).toEqual([expect.stringMatching(/^limen:ssh\.port = 22 and limen:tls\.responderPort = 22: /)]);
        expect(problemsOf({ ...acme({}), "limen:tlsPrivateKey": fakePrivateKey })).toEqual([
            expect.stringMatching(/^limen:tlsPrivateKey \(secret\) and limen:tls\.source = "acme": a TLS private key is set, but certbot makes the keys on the frontend/),
        ]);
    });

    it.each([1024, 8402, 9444, 65535])("refuses responder port %i, which any user could bind to answer the challenges", (responderPort) => {
        expect(problemsOf(acme({ responderPort }))).toEqual([
            `limen:tls.responderPort = ${responderPort}: must be a port below 1024, which only root can bind: whoever holds the ACME responder's port answers the HTTP-01 challenges for every domain the door serves, and could get certificates for them`,
        ]);
    });

    it("takes a responder port that only root can bind", () => {
        expect(problemsOf(acme({ responderPort: 1023 }))).toEqual([]);
    });

    it("refuses a certificate from config that does not cover a domain, naming the domain and what it covers", () => {
        const raw = withOverride(
            { ...prod, "limen:tls": JSON.stringify({ source: "config", certificateChain: fixtureCertificate }), "limen:tlsPrivateKey": fakePrivateKey },
            "domains",
            { limen: ["limen.darc.kr", "api.darc.kr"] },
        );
        expect(problemsOf(raw)).toEqual([
            expect.stringMatching(
                /^limen:domains\.limen\[1\] = "api\.darc\.kr" and limen:tls\.certificateChain = .*: the certificate in limen:tls\.certificateChain does not cover api\.darc\.kr \(it names limen\.example\.org, darc\.example\.org, limen\.darc\.kr, darc\.kr, www\.darc\.kr\)/,
            ),
        ]);
    });

    it("refuses host-files paths that are not absolute", () => {
        const raw = {
            ...prod,
            "limen:tls": JSON.stringify({ source: "host-files", certificateChainPath: "live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }),
        };
        expect(problemsOf(raw)).toEqual([expect.stringMatching(/^limen:tls\.certificateChainPath = "live\/limen\/fullchain\.pem": must be an absolute path/)]);
    });
});
