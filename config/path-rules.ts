/**
 * Where root may keep files: never inside an app's directory. The app user owns those directories
 * (the app's own pipeline deploys there), so it can swap any entry in them for a link at any moment;
 * root writes, and Envoy reads as root, only files where nobody but root can change the way to them.
 * The host tool refuses such a directory too (README, "Security"); this says so before any host is touched.
 */
import * as path from "node:path";
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
