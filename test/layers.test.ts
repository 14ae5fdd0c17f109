/**
 * Every arrow points down (README, "Repository layout"): a module imports from its own layer or a
 * lower one, and core/ from nothing of the project but itself. The imports are read by TypeScript's
 * own parser, so an import written over several lines, a type-only one and `import("…")` count, and
 * one quoted in a comment or a string does not.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { describe, expect, it } from "vitest";

/** Bottom to top. Above components/ sits everything else: index.ts, ops/, policy/, bench/, lab/, test/. */
const layers = ["core", "config", "render", "plan", "hostio", "provider", "components"] as const;
const top = layers.length;
const order = `${layers.join(" → ")} → the rest`;

const root = path.join(__dirname, "..");

interface SourceFile {
    /** Relative to the project root, with forward slashes: `plan/hosts.ts`. */
    path: string;
    source: string;
}

interface Import {
    specifier: string;
    line: number;
}

/** Every module a file names: import and export declarations, `import x = require()`, `import()` (values and types), `require()`. */
function importsOf(file: SourceFile): Import[] {
    const parsed = ts.createSourceFile(file.path, file.source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const found: Import[] = [];
    const record = (node: ts.Node, specifier: ts.Node | undefined) => {
        if (specifier && ts.isStringLiteralLike(specifier)) found.push({ specifier: specifier.text, line: parsed.getLineAndCharacterOfPosition(node.getStart(parsed)).line + 1 });
    };
    const visit = (node: ts.Node): void => {
        if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) record(node, node.moduleSpecifier);
        else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) record(node, node.moduleReference.expression);
        else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) record(node, node.argument.literal);
        else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === "require"))) {
            record(node, node.arguments[0]);
        }
        ts.forEachChild(node, visit);
    };
    visit(parsed);
    return found;
}

/** The layer a project path belongs to; a path outside the layers (index.ts, ops/, package.json) is at the top. */
function layerOf(projectPath: string): { name: string; rank: number } {
    const first = projectPath.split("/")[0]!;
    const rank = (layers as readonly string[]).indexOf(first);
    if (rank >= 0) return { name: `${first}/`, rank };
    if (first === "..") return { name: "outside the project", rank: top };
    return { name: projectPath.includes("/") ? `${first}/` : first, rank: top };
}

/** One line per import that points up, or out of core/; empty when every arrow points down. */
function layerViolations(files: SourceFile[]): string[] {
    const violations: string[] = [];
    for (const file of files) {
        const from = layerOf(file.path);
        for (const { specifier, line } of importsOf(file)) {
            // node: builtins and packages sit below every layer.
            if (!specifier.startsWith(".")) continue;
            const target = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), specifier));
            const to = layerOf(target);
            const where = `${file.path}:${line} imports "${specifier}" (${target})`;
            if (from.rank === 0 && to.rank !== 0) violations.push(`${where}: core/ → ${to.name}, but core/ imports only core/, node: builtins and packages`);
            else if (to.rank > from.rank) violations.push(`${where}: ${from.name} → ${to.name} points up (bottom to top: ${order})`);
        }
    }
    return violations;
}

function layeredFiles(): SourceFile[] {
    return layers.flatMap((layer) =>
        readdirSync(path.join(root, layer), { recursive: true, encoding: "utf8" })
            .filter((name) => name.endsWith(".ts"))
            .map((name) => `${layer}/${name.split(path.sep).join("/")}`)
            .sort()
            .map((file) => ({ path: file, source: readFileSync(path.join(root, file), "utf8") })),
    );
}

describe("every arrow points down", () => {
    it("holds for every module of the layers", () => {
        const files = layeredFiles();
        expect(layers.filter((layer) => !files.some((file) => file.path.startsWith(`${layer}/`)))).toEqual([]);
        expect(layerViolations(files)).toEqual([]);
    });

    it.each([
        {
            why: "a type import over several lines",
            file: { path: "config/schema/fields.ts", source: 'import { z } from "zod";\nimport type {\n    HostPlan,\n} from "../../plan/hosts";\n' },
            message: 'config/schema/fields.ts:2 imports "../../plan/hosts" (plan/hosts): config/ → plan/ points up',
        },
        {
            why: "a re-export",
            file: { path: "render/envoy.ts", source: 'export { envoyPlan } from "../plan/envoy";\n' },
            message: 'render/envoy.ts:1 imports "../plan/envoy" (plan/envoy): render/ → plan/ points up',
        },
        {
            why: "a dynamic import",
            file: { path: "hostio/ssh.ts", source: 'export async function serve() {\n    return await import(\n        "../provider/server"\n    );\n}\n' },
            message: 'hostio/ssh.ts:2 imports "../provider/server" (provider/server): hostio/ → provider/ points up',
        },
        {
            why: "a type named through import()",
            file: { path: "plan/hosts.ts", source: 'export type Stack = import("../components/stack").StackOutputs;\n' },
            message: 'plan/hosts.ts:1 imports "../components/stack" (components/stack): plan/ → components/ points up',
        },
        {
            why: "an import from above the layers",
            file: { path: "components/host.ts", source: 'import "../ops/verify";\n' },
            message: 'components/host.ts:1 imports "../ops/verify" (ops/verify): components/ → ops/ points up',
        },
        {
            why: "core/ reaching one layer up",
            file: { path: "core/addresses.ts", source: 'import type { LimenConfig } from "../config";\n' },
            message: 'core/addresses.ts:1 imports "../config" (config): core/ → config/, but core/ imports only core/',
        },
        {
            why: "core/ reading a project file outside the layers",
            file: { path: "core/project-files.ts", source: 'import { version } from "../package.json";\n' },
            message: 'core/project-files.ts:1 imports "../package.json" (package.json): core/ → package.json, but core/ imports only core/',
        },
    ])("refuses $why, naming the file, the import and both layers", ({ file, message }) => {
        const violations = layerViolations([file]);
        expect(violations).toHaveLength(1);
        expect(violations[0]).toContain(message);
    });

    it("lets downward imports, packages, builtins, and imports quoted in comments and strings pass", () => {
        const file = {
            path: "plan/hosts.ts",
            source: [
                'import { readFileSync } from "node:fs";',
                'import { parse } from "yaml";',
                'import type { LimenConfig } from "../config";',
                'import { sha256 } from "../core/sha256";',
                'import { renderEnvoy } from "../render/envoy";',
                'import { frontendFiles } from "./files";',
                '// import { HostFirewall } from "../components/firewall";',
                "const example = 'import(\"../provider/server\")';",
            ].join("\n"),
        };
        expect(importsOf(file).map((found) => found.specifier)).toEqual(["node:fs", "yaml", "../config", "../core/sha256", "../render/envoy", "./files"]);
        expect(layerViolations([file])).toEqual([]);
    });
});
