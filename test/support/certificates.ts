/** Certificate pairs made with openssl for the tests that run the host tool's and verify's real commands. */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import * as path from "node:path";

/** Runs openssl and returns its stdout; throws with its stderr when it fails. */
export function openssl(...args: string[]): string {
    const run = spawnSync("openssl", args, { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
    return run.stdout;
}

/** A self-signed P-256 pair for `names`, valid `days`, as `dir/fullchain.pem` and `dir/privkey.pem`. */
export function selfSignedPair(dir: string, names: string[], days: number): { chainPath: string; keyPath: string } {
    mkdirSync(dir, { recursive: true });
    const chainPath = path.join(dir, "fullchain.pem");
    const keyPath = path.join(dir, "privkey.pem");
    const subjectAltName = names.map((name) => `DNS:${name}`).join(",");
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        String(days),
        "-subj",
        `/CN=${names[0]}`,
        "-addext",
        `subjectAltName=${subjectAltName}`,
        "-keyout",
        keyPath,
        "-out",
        chainPath,
    );
    return { chainPath, keyPath };
}
