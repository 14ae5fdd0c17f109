/**
 * The project's provider plugin (`pulumi-resource-limen`): the engine's gRPC ResourceProvider service
 * for the host resources, each type handled by its own provider (file-provider.ts, firewall-provider.ts,
 * pm2-provider.ts, certificate-provider.ts, container-name-provider.ts, envoy-release-provider.ts).
 *
 * Why a plugin of our own rather than Pulumi's dynamic providers: the dynamic-provider plugin loads
 * the whole Pulumi SDK, with TypeScript and npm's arborist for closure serialisation, which costs about a second at each start, and `up --refresh` starts it twice.
 * This plugin loads gRPC, the SDK's generated protocol messages and the provider code only. The
 * protocol is the one the dynamic-provider plugin speaks (@pulumi/pulumi cmd/dynamic-provider), so
 * the resources' behaviour is unchanged: secrets arrive unwrapped and the engine re-marks them
 * (acceptSecrets false), no create or update runs during a preview (supportsPreview false), and
 * CheckConfig / DiffConfig are left unimplemented (the engine then treats the provider as unchanged).
 */
import * as grpc from "@grpc/grpc-js";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { certificateProvider } from "./certificate-provider";
import { containerNameProvider } from "./container-name-provider";
import { envoyGateProvider, envoyReleaseProvider } from "./envoy-release-provider";
import { fileProvider } from "./file-provider";
import { firewallProvider } from "./firewall-provider";
import { pm2Provider } from "./pm2-provider";
import type { ResourceProvider } from "./resource-provider";
import { HostResourceType, hostResourceTypes } from "../core/resource-types";

type Props = Record<string, unknown>;

/** The engine hands over property maps; each resource type's inputs have the shape its component registered. */
const untyped = <Inputs>(provider: ResourceProvider<Inputs>) => provider as unknown as ResourceProvider<Props>;

const providers: Record<HostResourceType, ResourceProvider<Props>> = {
    [hostResourceTypes.file]: untyped(fileProvider),
    [hostResourceTypes.hostTool]: untyped(fileProvider),
    [hostResourceTypes.firewall]: untyped(firewallProvider),
    [hostResourceTypes.pm2]: untyped(pm2Provider),
    [hostResourceTypes.certificate]: untyped(certificateProvider),
    [hostResourceTypes.containerName]: untyped(containerNameProvider),
    [hostResourceTypes.envoyRelease]: untyped(envoyReleaseProvider),
    [hostResourceTypes.envoyGate]: untyped(envoyGateProvider),
};

/** `urn:pulumi:stack::project::parent$type::name` → `type`. */
export function typeOfUrn(urn: string): string {
    const qualified = urn.split("::")[2] ?? "";
    return qualified.split("$").at(-1) ?? "";
}

function providerFor(urn: string): ResourceProvider<Props> {
    const type = typeOfUrn(urn);
    const provider = providers[type as HostResourceType] as ResourceProvider<Props> | undefined;
    if (!provider) throw new Error(`the limen provider has no resource type ${type} (${urn})`);
    return provider;
}

function propsOf(struct: structproto.Struct | undefined): Props {
    return (struct?.toJavaScript() ?? {}) as Props;
}

function structOf(props: Props): structproto.Struct {
    return structproto.Struct.fromJavaScript(props as Record<string, structproto.JavaScriptValue>);
}

type Call<Req> = grpc.ServerUnaryCall<Req, unknown>;
type Reply<Res> = grpc.sendUnaryData<Res>;

/** Runs one request; a failure reaches the engine as the provider's error message (the host's own words, see host-providers.ts run). */
function handle<Req, Res>(work: (request: Req) => Promise<Res>) {
    return (call: Call<Req>, callback: Reply<Res>) => {
        work(call.request).then(
            (response) => callback(null, response),
            (error: Error) => callback({ code: grpc.status.UNKNOWN, details: error.message, message: error.message }, null),
        );
    };
}

function unimplemented(method: string) {
    return (_call: unknown, callback: Reply<never>) => callback({ code: grpc.status.UNIMPLEMENTED, details: `${method} is not implemented by the limen provider` }, null);
}

export function providerService(version: string): grpc.UntypedServiceImplementation {
    return {
        getPluginInfo: handle(async () => new plugproto.PluginInfo().setVersion(version)),
        configure: handle(async () => new provproto.ConfigureResponse().setAcceptsecrets(false).setSupportspreview(false)),
        checkConfig: unimplemented("CheckConfig"),
        diffConfig: unimplemented("DiffConfig"),
        check: handle(async (request: provproto.CheckRequest) => {
            providerFor(request.getUrn());
            // The config was checked before any resource was registered (config/); the inputs stand.
            return new provproto.CheckResponse().setInputs(structOf(propsOf(request.getNews())));
        }),
        diff: handle(async (request: provproto.DiffRequest) => {
            const result = await providerFor(request.getUrn()).diff(request.getId(), propsOf(request.getOlds()), propsOf(request.getNews()));
            return new provproto.DiffResponse()
                .setChanges(result.changes ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE)
                .setReplacesList(result.replaces ?? []);
        }),
        create: handle(async (request: provproto.CreateRequest) => {
            const result = await providerFor(request.getUrn()).create(propsOf(request.getProperties()));
            return new provproto.CreateResponse().setId(result.id).setProperties(structOf(result.outs));
        }),
        read: handle(async (request: provproto.ReadRequest) => {
            const stored = propsOf(request.getProperties());
            const props = Object.keys(stored).length > 0 ? stored : propsOf(request.getInputs());
            const result = await providerFor(request.getUrn()).read(request.getId(), props);
            return new provproto.ReadResponse().setId(result.id).setProperties(structOf(result.props)).setInputs(structOf(result.inputs));
        }),
        update: handle(async (request: provproto.UpdateRequest) => {
            const result = await providerFor(request.getUrn()).update(request.getId(), propsOf(request.getOlds()), propsOf(request.getNews()));
            return new provproto.UpdateResponse().setProperties(structOf(result.outs));
        }),
        delete: handle(async (request: provproto.DeleteRequest) => {
            await providerFor(request.getUrn()).delete(request.getId(), propsOf(request.getProperties()));
            return new emptyproto.Empty();
        }),
        cancel: handle(async () => new emptyproto.Empty()),
        // Every other method (schema, invoke, construct, ...) is answered UNIMPLEMENTED by gRPC itself.
    };
}

/** Serves on a free loopback port and prints it, which is how the engine learns where the plugin listens. */
export async function serve(version: string): Promise<grpc.Server> {
    const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
    server.addService(provrpc.ResourceProviderService, providerService(version));
    const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    process.stdout.write(`${port}\n`);
    return server;
}
