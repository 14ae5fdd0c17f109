/**
 * Reading the project's markdown the way a reader follows it: the relative links (with their #anchors),
 * the repository paths named in `code`, and the lines too long to read in a terminal. Pure but for reading
 * the files a link or a path names; test/docs.test.ts runs it over README.md, docs/*.md and lab/README.md.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

/** One reference that leads nowhere, as a reader would be told it. */
export interface BrokenReference {
    /** The document, relative to the repository root. */
    file: string;
    line: number;
    /** The link target or the path as written. */
    target: string;
    why: string;
}

/** Fenced code (commands, program output, diagrams) is neither linked nor wrapped: blanked, lines kept. */
function withoutFencedCode(markdown: string): string[] {
    let fenced = false;
    return markdown.split("\n").map((line) => {
        if (line.startsWith("```")) {
            fenced = !fenced;
            return "";
        }
        return fenced ? "" : line;
    });
}

/** GitHub's anchor for a heading: its text lower-cased, punctuation dropped, each space a hyphen. */
export function headingSlug(heading: string): string {
    return heading
        .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
        .replace(/[`*]/g, "")
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-");
}

/** Every anchor a document's headings give, a repeated heading numbered as GitHub numbers it. */
export function headingAnchors(markdown: string): Set<string> {
    const anchors = new Set<string>();
    const seen = new Map<string, number>();
    for (const line of withoutFencedCode(markdown)) {
        const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
        if (!heading) continue;
        const slug = headingSlug(heading[1]!);
        const count = seen.get(slug) ?? 0;
        seen.set(slug, count + 1);
        anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    return anchors;
}

/** Inline code spans hold commands and names, never links. */
function withoutCodeSpans(line: string): string {
    return line.replace(/`[^`]*`/g, (span) => " ".repeat(span.length));
}

/** The relative links of a document (inline and reference-style), with the line each is on. */
export function relativeLinks(markdown: string): { line: number; target: string }[] {
    const links: { line: number; target: string }[] = [];
    withoutFencedCode(markdown).forEach((text, index) => {
        const line = withoutCodeSpans(text);
        const targets = [
            ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
            ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]!),
        ];
        for (const target of targets) {
            if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
            links.push({ line: index + 1, target });
        }
    });
    return links;
}

/**
 * The links of `markdown` (the text of `file`, relative to `root`) that lead nowhere: a file or
 * directory that does not exist, or an #anchor that no heading of the target gives.
 */
export function brokenLinks(root: string, file: string, markdown: string): BrokenReference[] {
    const broken: BrokenReference[] = [];
    for (const { line, target } of relativeLinks(markdown)) {
        const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
        const resolved = pathPart === "" ? path.join(root, file) : path.resolve(root, path.dirname(file), decodeURIComponent(pathPart));
        if (!resolved.startsWith(root + path.sep)) {
            broken.push({ file, line, target, why: "leads outside the repository" });
            continue;
        }
        if (!existsSync(resolved)) {
            broken.push({ file, line, target, why: `${path.relative(root, resolved)} does not exist` });
            continue;
        }
        if (anchor === undefined) continue;
        if (!resolved.endsWith(".md") || statSync(resolved).isDirectory()) {
            broken.push({ file, line, target, why: "an anchor into something that is not a markdown file" });
            continue;
        }
        const anchors = headingAnchors(pathPart === "" ? markdown : readFileSync(resolved, "utf8"));
        if (!anchors.has(anchor)) broken.push({ file, line, target, why: `${path.relative(root, resolved)} has no heading #${anchor}` });
    }
    return broken;
}

/** Directories of generated or installed files: a path into them names what a run makes, not the repository. */
const generatedDirectories = new Set(["node_modules", ".state", ".cache", ".next"]);

/** One path segment as a pattern: `*`, `<name>` and `{a,b}` stand for what a reader fills in. */
function segmentPattern(segment: string): RegExp {
    const source = segment
        .split(/(\*|<[^>]*>|\{[^}]*\})/)
        .map((part) => {
            if (part === "*" || /^<.*>$/.test(part)) return ".+";
            if (/^\{.*\}$/.test(part)) return `(?:${part.slice(1, -1).split(",").map(escapeRegExp).join("|")})`;
            return escapeRegExp(part);
        })
        .join("");
    return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether some file or directory under `base` matches the path, segment by segment. */
function pathExists(base: string, segments: string[]): boolean {
    if (segments.length === 0) return true;
    const [segment, ...rest] = segments as [string, ...string[]];
    if (!/[*<{]/.test(segment)) {
        const next = path.join(base, segment);
        return existsSync(next) && (rest.length === 0 || statSync(next).isDirectory()) && pathExists(next, rest);
    }
    if (!existsSync(base) || !statSync(base).isDirectory()) return false;
    const pattern = segmentPattern(segment);
    return readdirSync(base).some((entry) => pattern.test(entry) && pathExists(path.join(base, entry), rest));
}

/**
 * The repository paths a document names in `code` that do not exist. A path counts as the repository's
 * when its first directory is one at the root (or, for a document in a subdirectory, one beside it);
 * host paths (`/etc/limen/…`, `~/.pm2`), paths above the checkout (`../shared/tools`) and paths into
 * generated directories (`node_modules/…`, `lab/.state/…`) are the hosts' or a run's, not the repository's.
 */
export function missingPaths(root: string, file: string, markdown: string): BrokenReference[] {
    const missing: BrokenReference[] = [];
    const bases = [...new Set([root, path.join(root, path.dirname(file))])];
    withoutFencedCode(markdown).forEach((text, index) => {
        for (const match of text.matchAll(/`([^`\s]+)`/g)) {
            const written = match[1]!;
            const named = written.replace(/^\.\//, "").replace(/[.,:;]+$/, "");
            if (!named.includes("/") || /^(\/|~|\$|\.\.\/|[a-z][a-z0-9+.-]*:)/i.test(named)) continue;
            const segments = named.split("/").filter((segment) => segment !== "");
            if (segments.some((segment) => generatedDirectories.has(segment))) continue;
            // A placeholder first (`<home>/.pm2`) is a host's path; so is a first directory the repository lacks.
            const candidates = bases.filter((base) => !/[*<{]/.test(segments[0]!) && existsSync(path.join(base, segments[0]!)));
            if (candidates.length === 0) continue;
            if (!candidates.some((base) => pathExists(base, segments))) {
                missing.push({ file, line: index + 1, target: written, why: "no such file or directory in the repository" });
            }
        }
    });
    return missing;
}

/** Lines longer than `limit` characters outside fenced code, except those `keep` says stay whole. */
export function longLines(markdown: string, limit: number, keep: (line: string) => boolean = () => false): { line: number; length: number }[] {
    return withoutFencedCode(markdown)
        .map((line, index) => ({ line: index + 1, length: [...line].length, text: line }))
        .filter(({ length, text }) => length > limit && !keep(text))
        .map(({ line, length }) => ({ line, length }));
}
