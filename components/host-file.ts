import * as pulumi from "./sdk";
import { FilePlan } from "../plan/files";
import { sha256 } from "../core/sha256";
import { HostFile } from "./host-resources";
import type { RemoteHost } from "./host";

/** A file from the plan as a resource; secret content stays a Pulumi secret. */
export function hostFile(name: string, host: RemoteHost, file: FilePlan, opts: pulumi.CustomResourceOptions): HostFile {
    return new HostFile(
        name,
        {
            connection: host.connection,
            toolPath: host.toolPath,
            path: file.path,
            mode: file.mode,
            owner: file.owner,
            check: file.check,
            checkArgs: file.checkArgs,
            content: file.secret ? pulumi.secret(file.content) : file.content,
            contentSha256: file.secret ? pulumi.secret(sha256(file.content)) : sha256(file.content),
            ...(file.preflight ? { preflight: file.preflight } : {}),
        },
        { ...opts, secret: file.secret },
    );
}
