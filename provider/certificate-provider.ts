/**
 * The certificates the stack issues with ACME (limen:tls.source "acme"), as resources that read the
 * frontend like those in host-providers.ts. Two stages per certificate:
 * - `placeholder`: a self-signed pair published before Envoy starts, so Envoy has an SDS secret to
 *   load and can forward the first HTTP-01 challenge; never replaces a pair already there.
 * - `issued`: certbot holds a certificate for exactly the planned names from the planned ACME server,
 *   its timer renews it, and the pair Envoy serves is certbot's current one. Registered after Envoy,
 *   whose port-80 route carries the challenge to certbot's responder.
 * A refresh reports what differs (`names: "limen.lab.test" => "limen.lab.test,www.lab.test"`,
 * `served: "a placeholder or an older certificate" => "certbot's current certificate"`), and an
 * update re-runs the same host-tool step, which changes only what differs.
 */
import { certificateStepSeconds, stepSeconds } from "../hostio/deadlines";
import { certificateProbeCommand, parseCertificateProbe, plannedResponder } from "../hostio/certificates";
import { acmeCertificateCall, acmeRemoveCall, tlsPlaceholderCall } from "../hostio/host-tool";
import { differingFacts } from "../hostio/observe";
import { HostConnection, run, runTool } from "./host-providers";
import type { ResourceProvider } from "./resource-provider";

type Stage = "placeholder" | "issued";

export interface CertificateInputs {
    connection: HostConnection;
    toolPath: string;
    stage: Stage;
    name: string;
    domains: string[];
    email: string;
    directoryUrl: string;
    responderAddress: string;
    responderPort: number;
    lineageDir: string;
    publishDir: string;
    renewalHook: string;
    // Facts, as planned (inputs) or as read (after a refresh).
    /** The names certbot's certificate covers, sorted and comma-separated. */
    names: string;
    /** The ACME server certbot renews from. */
    server: string;
    /** What Envoy is given: certbot's current certificate, or something else. */
    served: string;
    /** certbot.timer, which runs the renewals, and how certbot answers the challenge then. */
    renewal: string;
}

const servedIssued = "certbot's current certificate";
const servedAny = "a certificate";

/** The facts each stage promises. */
export function desiredCertificateFacts(
    inputs: Pick<CertificateInputs, "stage" | "domains" | "directoryUrl" | "responderAddress" | "responderPort">,
): Pick<CertificateInputs, "names" | "server" | "served" | "renewal"> {
    if (inputs.stage === "placeholder") return { names: "", server: "", served: servedAny, renewal: "" };
    const responder = plannedResponder({ address: inputs.responderAddress, port: inputs.responderPort });
    return { names: [...inputs.domains].sort().join(","), server: inputs.directoryUrl, served: servedIssued, renewal: `certbot.timer enabled; ${responder}` };
}

async function readCertificate(props: CertificateInputs): Promise<CertificateInputs> {
    const chainPath = `${props.publishDir}/current/fullchain.pem`;
    const probe = await run(
        props.connection,
        `reading certificate ${props.name}`,
        certificateProbeCommand({ chainPath, keyPath: `${props.publishDir}/current/privkey.pem`, lineageDir: props.stage === "issued" ? props.lineageDir : undefined }),
        { deadlineSeconds: stepSeconds.read },
    );
    const facts = parseCertificateProbe(probe.stdout);
    if (props.stage === "placeholder") return { ...props, names: "", server: "", served: facts.present ? servedAny : "nothing", renewal: "" };
    return {
        ...props,
        names: facts.lineageNames.join(","),
        server: facts.server,
        served: facts.lineage === "served" && facts.keyMatches ? servedIssued : facts.present ? "a placeholder or an older certificate" : "nothing",
        renewal: `certbot.timer ${facts.renewalTimer || "missing"}; ${facts.responder.trim() || "no renewal settings"}`,
    };
}

async function applyCertificate(inputs: CertificateInputs): Promise<void> {
    const domains = inputs.domains.join(",");
    if (inputs.stage === "placeholder") {
        await runTool(inputs.connection, `publishing a placeholder for certificate ${inputs.name}`, tlsPlaceholderCall(inputs.toolPath, inputs.publishDir, inputs.domains), {
            deadlineSeconds: stepSeconds.install,
        });
        return;
    }
    const call = acmeCertificateCall(inputs.toolPath, {
        name: inputs.name,
        domains: inputs.domains,
        email: inputs.email,
        server: inputs.directoryUrl,
        responderAddress: inputs.responderAddress,
        responderPort: inputs.responderPort,
        lineageDir: inputs.lineageDir,
        publishDir: inputs.publishDir,
        hook: inputs.renewalHook,
    });
    await runTool(inputs.connection, `obtaining certificate ${inputs.name} for ${domains}`, call, { deadlineSeconds: certificateStepSeconds });
}

export const certificateProvider: ResourceProvider<CertificateInputs> = {
    async diff(_id: string, olds: CertificateInputs, news: CertificateInputs) {
        const changed = differingFacts(desiredCertificateFacts(news), olds);
        const settings = (["email", "responderPort", "publishDir"] as const).filter((key) => olds[key] !== news[key]);
        // Another name is another lineage: the new one is obtained first, then the old one forgotten.
        return { changes: changed.length > 0 || settings.length > 0, replaces: olds.name !== undefined && (olds.name !== news.name || olds.stage !== news.stage) ? ["name"] : [] };
    },
    async create(inputs: CertificateInputs) {
        await applyCertificate(inputs);
        return { id: `${inputs.connection.role}:${inputs.stage}:${inputs.name}`, outs: inputs };
    },
    async update(_id: string, _olds: CertificateInputs, news: CertificateInputs) {
        await applyCertificate(news);
        return { outs: news };
    },
    async read(id: string, props: CertificateInputs) {
        const observed = await readCertificate(props);
        return { id, props: observed, inputs: observed };
    },
    async delete(_id: string, props: CertificateInputs) {
        // The placeholder goes with the issued certificate's removal (same directory).
        if (props.stage !== "issued") return;
        await runTool(props.connection, `removing certificate ${props.name}`, acmeRemoveCall(props.toolPath, props.name, props.publishDir), {
            deadlineSeconds: certificateStepSeconds,
        });
    },
};
