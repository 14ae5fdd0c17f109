/**
 * A Node script (for `node -e`) that starts a program as the language host's run harness does, with
 * Pulumi's mocks in place of the engine: the runtime's own modules (never @pulumi/pulumi's index, see
 * components/sdk.ts), the stack's config, then `require(program)`. Registrations go to `registered`
 * ({type, name, inputs}) and the program's exports to `exported`; `settled` (JavaScript) runs after
 * `settleMs`, once the registrations are done. Used by test/launch/program.tools.test.ts and bench/program-start.ts.
 */
export function mockedProgramScript(program: string, config: Record<string, string>, options: { preload?: string; settleMs: number; settled: string }): string {
    return `${options.preload ?? ""}
const registered = [];
require("@pulumi/pulumi/runtime/mocks").setMocks({ newResource: (a) => { registered.push({ type: a.type, name: a.name, inputs: a.inputs }); return { id: a.name + "-id", state: a.inputs }; }, call: () => ({}) }, "limen", "prod", false);
require("@pulumi/pulumi/runtime/config").setAllConfig(${JSON.stringify(config)}, ["limen:sshPrivateKey"]);
const exported = require(${JSON.stringify(program)});
setTimeout(() => { ${options.settled} }, ${options.settleMs});
`;
}
