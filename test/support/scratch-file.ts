/** A file with `text` under a new temporary directory, for a tool that reads it by path (nft -c, pm2, @next/env). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

export function scratchFile(name: string, text: string): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "limen-render-")), name);
    writeFileSync(file, text);
    return file;
}
