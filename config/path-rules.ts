/**
 * The cross-key rules about where the stack's files go: each file it installs on the frontend at a
 * path of its own, and root's files never inside an app's directory.
 *
 * Not inside an app's directory, because the app user owns those directories (the app's own pipeline
 * deploys there), so it can swap any entry in them for a link at any moment; root writes, and Envoy
 * reads as root, only files where nobody but root can change the way to them. The host tool refuses
 * such a directory too (docs/security.md); this says so before any host is touched.
 */
import * as path from "node:path";
import { acmePaths, envFileName, envoyTlsDir, firewallPaths, hostToolPath, sdsFile } from "../core/host-paths";
import type { CrossKeyRule, RuleFinding } from "./rule-types";
import type { KeyPath } from "./view";

const appDirs: KeyPath[] = [
    ["apps", "limenFrontend", "cwd"],
    ["apps", "darc", "cwd"],
];

const inside = (file: string, dir: string) => {
    const relative = path.posix.relative(dir, file);
    return relative !== "" && !relative.startsWith("..") && !path.posix.isAbsolute(relative);
};

export const rootFilesOutsideAppDirsRule: CrossKeyRule = {
    name: "root's files are outside the apps' directories",
    reads: [...appDirs, ["apps", "ecosystemPath"], ["envoy", "enabled"], ["envoy", "configPath"], ["tls", "source"], ["tls", "certificateChainPath"], ["tls", "privateKeyPath"]],
    check(view) {
        const rootFiles: [KeyPath, string | undefined, string][] = [[["apps", "ecosystemPath"], view.get(["apps", "ecosystemPath"]), "root installs"]];
        if (view.get<boolean>(["envoy", "enabled"]) === true) {
            rootFiles.push([["envoy", "configPath"], view.get(["envoy", "configPath"]), "root installs"]);
            if (view.get<string>(["tls", "source"]) === "host-files") {
                for (const field of ["certificateChainPath", "privateKeyPath"] as const) rootFiles.push([["tls", field], view.get(["tls", field]), "Envoy reads as root"]);
            }
        }
        const findings: RuleFinding[] = [];
        for (const dirKey of appDirs) {
            const dir = view.get<string>(dirKey);
            if (dir === undefined) continue;
            for (const [key, file, how] of rootFiles) {
                if (file === undefined || !inside(file, dir)) continue;
                findings.push({
                    keys: [key, dirKey],
                    message: `${file} is inside the app directory ${dir}, a file ${how}: the app user owns that directory and could swap the file for a link to any file on the host, so keep it where only root can write (under /etc)`,
                });
            }
        }
        return findings;
    },
};

const cwdFile = (cwd: string | undefined) => (cwd === undefined ? undefined : path.posix.join(cwd, envFileName));

export const frontendFilesRule: CrossKeyRule = {
    name: "each file the stack installs on the frontend has its own path",
    reads: [["apps", "ecosystemPath"], ["apps", "limenFrontend", "cwd"], ["envoy", "enabled"], ["envoy", "configPath"], ["tls"]],
    check(view) {
        const files: [KeyPath | string, string | undefined][] = [
            [["apps", "ecosystemPath"], view.get(["apps", "ecosystemPath"])],
            [["apps", "limenFrontend", "cwd"], cwdFile(view.get<string>(["apps", "limenFrontend", "cwd"]))],
            ["the firewall's boot ruleset", firewallPaths.bootRuleset],
            ["the firewall's boot unit", firewallPaths.bootUnitPath],
            ["the host tool", hostToolPath],
        ];
        if (view.get<boolean>(["envoy", "enabled"]) === true) {
            files.push([["envoy", "configPath"], view.get(["envoy", "configPath"])]);
            if (view.get<string>(["tls", "source"]) === "config") {
                files.push(["the TLS certificate", path.posix.join(envoyTlsDir, "fullchain.pem")], ["the TLS key", path.posix.join(envoyTlsDir, "privkey.pem")]);
            }
            for (const field of ["certificateChainPath", "privateKeyPath"] as const) {
                if (view.get<string>(["tls", "source"]) === "host-files") files.push([["tls", field], view.get(["tls", field])]);
            }
            if (view.get<string>(["tls", "source"]) === "acme") {
                for (const name of ["limen", "darc", "sites"]) files.push([`Envoy's SDS file for the ${name} certificate`, sdsFile(name)]);
            }
        }
        if (view.get<string>(["tls", "source"]) === "acme") files.push(["certbot's renewal hook", acmePaths.renewalHook]);
        const findings: RuleFinding[] = [];
        const seen = new Map<string, KeyPath | string>();
        for (const [owner, file] of files) {
            if (file === undefined) continue;
            const first = seen.get(file);
            const firstIsKey = Array.isArray(first);
            // The two TLS host files may be one file holding both; they are read, never written.
            const bothTlsFiles = firstIsKey && (first as KeyPath)[0] === "tls" && Array.isArray(owner) && owner[0] === "tls";
            if (first !== undefined && !bothTlsFiles) {
                const keys = [first, owner].filter((o): o is KeyPath => Array.isArray(o));
                const named = [first, owner].filter((o): o is string => typeof o === "string");
                findings.push({
                    keys,
                    message: `${file} is ${named.length > 0 ? `also where the stack keeps ${named.join(" and ")}` : "two files at once"}: every file the stack installs needs its own path`,
                });
            } else if (first === undefined) {
                seen.set(file, owner);
            }
        }
        return findings;
    },
};
