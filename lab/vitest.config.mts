import { defineConfig } from "vitest/config";

// End-to-end tests against the lab machines: one file, steps in order, generous timeouts.
export default defineConfig({
    test: {
        root: new URL("..", import.meta.url).pathname,
        include: ["lab/test/**/*.test.ts"],
        fileParallelism: false,
        testTimeout: 120_000,
        hookTimeout: 300_000,
    },
});
