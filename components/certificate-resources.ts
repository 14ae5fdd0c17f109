/**
 * The certificates the stack issues with ACME (limen:tls.source "acme"), as resources of the
 * project's provider plugin that read the frontend like those in host-resources.ts. What they do on
 * the host, and their two stages (a placeholder before Envoy starts, the issued certificate after):
 * provider/certificate-provider.ts.
 */
import * as pulumi from "./sdk";
import { CertificateInputs, desiredCertificateFacts } from "../provider/certificate-provider";
import type { HostConnection } from "../provider/host-providers";
import { hostResourceTypes } from "../core/resource-types";

/** What a certificate resource is given: its settings (the facts are derived from them), the connection as an input. */
export type AcmeCertificateArgs = Omit<CertificateInputs, "connection" | "names" | "server" | "served" | "renewal"> & { connection: pulumi.Input<HostConnection> };

/** One certificate on the frontend, at one stage. */
export class AcmeCertificate extends pulumi.CustomResource {
    constructor(name: string, args: AcmeCertificateArgs, opts: pulumi.CustomResourceOptions) {
        super(hostResourceTypes.certificate, name, { ...args, ...desiredCertificateFacts(args) }, { ...opts, additionalSecretOutputs: ["connection"] });
    }
}
