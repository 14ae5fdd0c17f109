import { BaseSequencer, type TestSpecification } from "vitest/node";
import { defineConfig } from "vitest/config";

/** A file's number: 1-cycle.test.ts → 1, 10-front-door.test.ts → 10. */
const numberOf = (file: TestSpecification) => Number(/(\d+)-[^/]*$/.exec(file.moduleId)?.[1] ?? Infinity);

/** The files build on each other (1-cycle, then 2-safety, …, 10-front-door): run them in number order, one at a time. */
class ByNumber extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
        return [...files].sort((a, b) => numberOf(a) - numberOf(b) || a.moduleId.localeCompare(b.moduleId));
    }
}

// End-to-end tests against the lab machines: steps in order, generous timeouts.
export default defineConfig({
    test: {
        root: new URL("..", import.meta.url).pathname,
        include: ["lab/test/**/*.test.ts"],
        fileParallelism: false,
        sequence: { sequencer: ByNumber },
        testTimeout: 120_000,
        hookTimeout: 300_000,
    },
});
