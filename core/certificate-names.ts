/**
 * How a certificate's names match host names, written once: the config's TLS rules (config/tls-rules.ts)
 * refuse a certificate that covers no domain it serves, and `verify` (hostio/certificates.ts) reports the
 * domains a served certificate leaves out.
 */

/** Whether a certificate name (`darc.kr`, `*.darc.kr`) covers a host name, as TLS clients match them. */
export function nameCovers(certificateName: string, host: string): boolean {
    if (certificateName === host) return true;
    if (!certificateName.startsWith("*.")) return false;
    const dot = host.indexOf(".");
    return dot > 0 && !host.startsWith("*.") && host.slice(dot + 1) === certificateName.slice(2);
}
