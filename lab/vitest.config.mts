import { BaseSequencer, type TestSpecification } from "vitest/node";
import { defineConfig } from "vitest/config";

/** The files build on each other (1-cycle, then 2-safety): run them in name order, one at a time. */
class ByName extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
        return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
    }
}

// End-to-end tests against the lab machines: steps in order, generous timeouts.
export default defineConfig({
    test: {
        root: new URL("..", import.meta.url).pathname,
        include: ["lab/test/**/*.test.ts"],
        fileParallelism: false,
        sequence: { sequencer: ByName },
        testTimeout: 120_000,
        hookTimeout: 300_000,
    },
});
