import * as pulumi from "@pulumi/pulumi";

/** Pulumi's marker for a secret value in the wire format of resource inputs. */
export const secretSignature = "1b47061264138c4ac30d75fd1eb44270";
const signatureKey = "4dabf18193072939515e22adb298388d";

export interface Registration {
    type: string;
    name: string;
    /** URN of the parent resource ("" for the stack). */
    parent: string;
    /** URNs of the resources this one was ordered after with dependsOn. */
    dependsOn: string[];
    /** Inputs as the engine receives them: secrets stay wrapped in Pulumi's secret envelope. */
    wire: Record<string, unknown>;
    additionalSecretOutputs: string[];
    /** Aliases as sent to the engine: `{name, type, parent}` specs or URNs. */
    aliases: Record<string, unknown>[];
    /** The whole RegisterResourceRequest as sent, less where in the source it was made (source position, stack trace). */
    request: Record<string, unknown>;
}

/** Whether a wire value is a secret envelope. */
export function isSecretOnWire(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[signatureKey] === secretSignature;
}

/** The plain value inside a wire value (a secret envelope's content, or the value itself). */
export function plainOnWire(value: unknown): unknown {
    return isSecretOnWire(value) ? (value as { value: unknown }).value : value;
}

let registrations: Registration[] = [];
let pending: Promise<unknown>[] = [];

/**
 * Installs Pulumi's mocks and wraps the mock monitor so every registration is recorded with what the
 * Mocks interface leaves out: parent, dependsOn and the secret markers of its inputs. Invokes throw:
 * the stack must not call any.
 */
export async function installMocks(): Promise<void> {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: { ...args.inputs, stdout: "", stderr: "" } }),
            call: (args) => {
                throw new Error(`unexpected invoke ${args.token}`);
            },
        },
        "limen",
        "unit",
        false,
    );
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource(req: any, callback: (err: unknown, res: unknown) => void): void;
    };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: (err: unknown, res: unknown) => void) => {
        registrations.push({
            type: req.getType(),
            name: req.getName(),
            parent: req.getParent(),
            dependsOn: req.getDependenciesList(),
            wire: req.getObject()?.toJavaScript() ?? {},
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            aliases: req.getAliasesList().map((alias: { toObject(): Record<string, unknown> }) => alias.toObject()),
            request: (({ sourceposition, stacktrace, ...rest }) => rest)(req.toObject()),
        });
        pending.push(new Promise((resolve) => original(req, (err, res) => (callback(err, res), resolve(undefined)))));
    };
}

/** Runs a program under the mocks and returns every registration once the last one has settled. */
export async function recordRegistrations(program: () => void): Promise<Registration[]> {
    registrations = [];
    pending = [];
    program();
    let seen = -1;
    while (seen !== registrations.length) {
        seen = registrations.length;
        await Promise.all(pending);
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return registrations;
}

/** Awaits an Output's value; the only way tests read outputs (never `expect` inside an apply). */
export function unwrap<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((value) => resolve(value)));
}
