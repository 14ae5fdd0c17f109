import { existsSync, lchownSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests that a real tool judges (nft, openssl, Envoy's validators, the host tool (tools/limen-host) as root, a child
// process of any kind) are named *.tools.test.ts, or *.property.test.ts for the generated-config
// property: they form the `tools` project. Everything else is `unit`, the inner loop
// (`npm run test:unit`, under ten seconds). `npm test` runs both. The lab's end-to-end tests have
// their own config under lab/.
const toolsTests = ["test/**/*.tools.test.ts", "test/**/*.property.test.ts"];

const checkout = fileURLToPath(new URL(".", import.meta.url));
const uid = process.getuid?.();
/** Only the checkout's owner writes caches into it (see `experimental` and `cacheDir` below). */
const checkoutOwner = statSync(checkout);
const ownCheckout = uid === undefined || uid === checkoutOwner.uid;
const elsewhere = path.join(tmpdir(), `limen-infra-vitest-cache-${uid}`);
// Vite bundles this file into node_modules/.vite-temp to load it and leaves that directory behind: root
// hands it to the checkout's owner like everything else it writes there (launch/bundle.cjs).
const viteTemp = path.join(checkout, "node_modules", ".vite-temp");
if (uid === 0 && !ownCheckout && existsSync(viteTemp)) lchownSync(viteTemp, checkoutOwner.uid, checkoutOwner.gid);

export default defineConfig({
    // Vitest's results (which tests failed last) go under Vite's cache dir, node_modules/.vite by default.
    cacheDir: ownCheckout ? undefined : path.join(elsewhere, "vite"),
    test: {
        // Transformed modules kept between runs (in the ignored .cache/, not the shared node_modules):
        // the inner loop's second run skips most of the transform. Only the checkout's owner writes there:
        // `sudo npm test` in a normal user's checkout keeps root's cache in /tmp, so that user's own runs
        // never meet a root-owned .cache/.
        experimental: { fsModuleCache: true, fsModuleCachePath: ownCheckout ? path.join(checkout, ".cache", "vitest") : path.join(elsewhere, "modules") },
        testTimeout: 30_000,
        // A failed match shows the whole string it was given: CI's report is often all there is to go on.
        chaiConfig: { truncateThreshold: 0 },
        projects: [
            {
                extends: true,
                test: {
                    name: "unit",
                    include: ["test/**/*.test.ts"],
                    exclude: toolsTests,
                    setupFiles: ["test/support/setup.ts"],
                    globalSetup: ["test/support/global-setup.ts"],
                    // One module graph per worker rather than per file: loading Pulumi's SDK and zod
                    // again for each file was most of the unit run's time.
                    isolate: false,
                },
            },
            {
                extends: true,
                test: {
                    name: "tools",
                    include: toolsTests,
                    setupFiles: ["test/support/setup.ts", "test/support/host-tool-build.ts"],
                    globalSetup: ["test/support/global-setup.ts"],
                },
            },
        ],
    },
});
