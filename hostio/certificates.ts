/**
 * What a served certificate looks like on the frontend: one read-only probe (run as root, without the
 * host tool, like every probe in observe*.ts) and the pure parser of its output. The certificate
 * resources report these facts on refresh and `npm run verify` judges them (days left, names covered,
 * key and chain). The private key never leaves the host: the probe says only whether it matches.
 */
import { nameCovers } from "../core/certificate-names";
import { shellWord } from "../core/shell";
import type { ToolScript } from "./host-tool-run";
import { hostToolPath } from "../core/host-paths";

export interface CertificateProbe {
    chainPath: string;
    keyPath: string;
    /** certbot's lineage when the stack issues the certificate. */
    lineageDir?: string;
}

export interface CertificateFacts {
    /** Whether the served chain file exists (and was read). */
    present: boolean;
    /**
     * Why the pair was not read: its files resolve into a directory another user can change (a chain
     * or key from limen:tls host files in the app's directory, say), where root follows no link. Empty when read.
     */
    refused: string;
    /** When the served certificate expires; undefined when missing or unreadable. */
    notAfter: Date | undefined;
    /** The DNS names of the served certificate, sorted. */
    names: string[];
    issuer: string;
    /** Whether the key belongs to the certificate. */
    keyMatches: boolean;
    /** Whether each certificate in the chain file was signed by the next one. */
    chainInOrder: boolean;
    /** With a lineage: whether the served pair is certbot's current certificate. */
    lineage: "served" | "not served" | "missing" | undefined;
    /** With a lineage: certbot's names, its ACME server, its renewal timer and the last renewal's result. */
    lineageNames: string[];
    server: string;
    /** How certbot answers the challenge at renewal: `standalone 127.0.0.1:402`. */
    responder: string;
    renewalTimer: string;
    lastRenewal: string;
}

/**
 * The probe: `key=value` lines. openssl reads the files; nothing is written. The chain and the key are
 * read at the paths they resolve to, and only when every directory there is one nobody but root can
 * change (the tool's \`dir\`): certbot's and the stack's own links are root's, so they are followed.
 */
export function certificateProbeCommand(probe: CertificateProbe): ToolScript {
    const args = [probe.chainPath, probe.keyPath, probe.lineageDir ?? ""].map((word) => shellWord(word) || "''").join(" ");
    const script = String.raw`
set -- ${args}
# The tool's dir request (its JSON built here): only a path of plain characters is passed on.
root_only() {
  case $1 in *[!A-Za-z0-9._/@:+-]*) echo "limen-host: $1: not judged: a path with characters the probe does not pass on" >&2; return 1 ;; esac
  printf '{"command":"dir","dir":"%s","output":"text"}\n' "$1" | "$LIMEN_TOOL"
}
for dir in "$(dirname "$(readlink -f "$1")")" "$(dirname "$(readlink -f "$2")")" "$3"; do
  [ -d "$dir" ] || continue
  if ! why=$(root_only "$dir" 2>&1); then echo present=refused; echo "$why" | sed 's/^limen-host: /refused=/'; exit 0; fi
done
chain=$(readlink -f "$1") key=$(readlink -f "$2") lineage=$3
[ -n "$chain" ] || chain=$1
names() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' | sed -n 's/^ *DNS://p' | sort | paste -sd, -; }
if [ ! -e "$chain" ]; then echo present=no; else
  echo present=yes
  echo "not-after=$(openssl x509 -in "$chain" -noout -enddate 2>/dev/null | cut -d= -f2)"
  echo "names=$(names "$chain")"
  echo "issuer=$(openssl x509 -in "$chain" -noout -issuer -nameopt RFC2253 2>/dev/null | cut -d= -f2-)"
  if [ "$(openssl x509 -in "$chain" -noout -pubkey 2>/dev/null | sha256sum)" = "$(openssl pkey -in "$key" -pubout 2>/dev/null | sha256sum)" ] && [ -s "$key" ]; then echo key=matches; else echo key=differs; fi
  work=$(mktemp -d); order=ok
  awk -v dir="$work" '/-----BEGIN CERTIFICATE-----/ { n++ } n { print > (dir "/cert-" n ".pem") }' "$chain"
  n=1; while [ -f "$work/cert-$((n + 1)).pem" ]; do
    openssl verify -partial_chain -CAfile "$work/cert-$((n + 1)).pem" "$work/cert-$n.pem" >/dev/null 2>&1 || order=broken
    n=$((n + 1)); done
  rm -rf -- "$work"; echo "chain=$order"
fi
if [ -n "$lineage" ]; then
  if [ ! -f "$lineage/fullchain.pem" ]; then echo lineage=missing
  elif cmp -s "$lineage/fullchain.pem" "$chain"; then echo lineage=served; else echo lineage=not-served; fi
  echo "lineage-names=$(names "$lineage/fullchain.pem")"
  conf="$(dirname "$(dirname "$lineage")")/renewal/$(basename "$lineage").conf"
  setting() { sed -n "s/^$1 *= *//p" "$conf" 2>/dev/null; }
  echo "server=$(setting server)"
  echo "responder=$(setting authenticator) $(setting http01_address):$(setting http01_port)"
  echo "timer=$(systemctl is-enabled certbot.timer 2>/dev/null || echo missing)"
  echo "last-renewal=$(systemctl show -p Result --value certbot.service 2>/dev/null)"
fi`;
    return { toolPath: hostToolPath, script };
}

export function parseCertificateProbe(stdout: string): CertificateFacts {
    const values = new Map<string, string>();
    for (const line of stdout.split("\n")) {
        const equals = line.indexOf("=");
        if (equals > 0) values.set(line.slice(0, equals), line.slice(equals + 1).trim());
    }
    if (!values.has("present")) throw new Error("cannot read the certificate: unexpected probe output");
    const list = (key: string) => (values.get(key) ?? "").split(",").filter(Boolean).sort();
    const notAfterText = values.get("not-after") ?? "";
    const notAfter = notAfterText ? new Date(notAfterText) : undefined;
    const lineage = values.get("lineage");
    return {
        present: values.get("present") === "yes",
        refused: values.get("refused") ?? "",
        notAfter: notAfter && !Number.isNaN(notAfter.getTime()) ? notAfter : undefined,
        names: list("names"),
        issuer: values.get("issuer") ?? "",
        keyMatches: values.get("key") === "matches",
        chainInOrder: values.get("chain") === "ok",
        lineage: lineage === undefined ? undefined : lineage === "served" ? "served" : lineage === "missing" ? "missing" : "not served",
        lineageNames: list("lineage-names"),
        server: values.get("server") ?? "",
        responder: values.get("responder") ?? "",
        renewalTimer: values.get("timer") ?? "",
        lastRenewal: values.get("last-renewal") ?? "",
    };
}

/** The domains no name of the certificate covers. */
export function uncoveredDomains(names: string[], domains: string[]): string[] {
    return domains.filter((domain) => !names.some((name) => nameCovers(name, domain)));
}

/** The renewal settings Envoy's challenge route needs: certbot's standalone responder where Envoy forwards. */
export function plannedResponder(responder: { address: string; port: number }): string {
    return `standalone ${responder.address}:${responder.port}`;
}

/** Whole days until `notAfter` (negative once expired). */
export function daysLeft(notAfter: Date, now: Date): number {
    return Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);
}
