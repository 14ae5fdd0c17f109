import * as pulumi from "./sdk";
import type { CertificatePlan } from "../plan/certificates";
import { FilePlan } from "../plan/files";
import { AcmeCertificate } from "./certificate-resources";
import { hostFile } from "./host-file";
import { RemoteHost } from "./host";

export interface FrontendCertificatesArgs {
    host: RemoteHost;
    /** The frontend's certificates that the stack issues (each with `acme` set). */
    certificates: CertificatePlan[];
    /** certbot's renewal hook, from the frontend's plan. */
    renewalHook: FilePlan;
    /** Resources on the host that must be in place first, such as its firewall. */
    after: pulumi.Resource[];
}

/**
 * Certificates issued and renewed by certbot on the frontend (limen:tls.source "acme"). The
 * placeholders come first, so that Envoy starts with a pair for every SDS secret; `issue()` then
 * registers the issued certificates after whatever carries the HTTP-01 challenge (Envoy's container).
 */
export class FrontendCertificates extends pulumi.ComponentResource {
    public readonly placeholders: AcmeCertificate[];
    public readonly issued: AcmeCertificate[] = [];
    private readonly hook: pulumi.Resource;

    constructor(
        private readonly componentName: string,
        private readonly args: FrontendCertificatesArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("limen:tls:FrontendCertificates", componentName, {}, opts);
        const name = componentName;
        const dependsOn = [args.host.ready, ...args.after];
        this.hook = hostFile(`${name}-${args.renewalHook.name}`, args.host, args.renewalHook, { parent: this, dependsOn });
        this.placeholders = args.certificates.map(
            (certificate) => new AcmeCertificate(`${name}-${certificate.name}-placeholder`, this.certificateArgs(certificate, "placeholder"), { parent: this, dependsOn }),
        );
    }

    /** Registers the issued certificates, after `carriers` (Envoy's container, when Envoy runs). */
    issue(carriers: pulumi.Resource[]): this {
        for (const certificate of this.args.certificates) {
            this.issued.push(
                new AcmeCertificate(`${this.componentName}-${certificate.name}`, this.certificateArgs(certificate, "issued"), {
                    parent: this,
                    dependsOn: [this.args.host.ready, ...this.args.after, this.hook, ...this.placeholders, ...carriers],
                }),
            );
        }
        this.registerOutputs({ certificates: this.issued.map((certificate) => certificate.id) });
        return this;
    }

    private certificateArgs(certificate: CertificatePlan, stage: "placeholder" | "issued") {
        const acme = certificate.acme!;
        return {
            connection: this.args.host.connection,
            toolPath: this.args.host.toolPath,
            stage,
            name: certificate.name,
            domains: certificate.domains,
            email: acme.email,
            directoryUrl: acme.directoryUrl,
            responderAddress: acme.responder.address,
            responderPort: acme.responder.port,
            lineageDir: acme.lineageDir,
            publishDir: acme.publishDir,
            renewalHook: acme.renewalHook,
        };
    }
}
