import { defineConfig } from "vitest/config";

// Unit tests only: no host, no engine. The lab's end-to-end tests have their own config under lab/.
export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        setupFiles: ["test/support/setup.ts"],
        globalSetup: ["test/support/global-setup.ts"],
        testTimeout: 30_000,
    },
});
