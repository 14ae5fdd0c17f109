/**
 * components/docker-resources.ts declares Envoy's Docker resources without @pulumi/docker's classes
 * (which load @pulumi/pulumi's whole index). Here both are registered with the same arguments, as
 * components/envoy.ts passes them, and every request the engine would receive must be identical:
 * type, name, parent, inputs (secrets and JSON-encoded settings included), dependencies, provider
 * reference, plugin version and options. A difference would show up on a deployed stack as a diff.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { Container, DockerProvider, dockerPluginVersion, RemoteImage } from "../../components/docker-resources";
import { installMocks, recordRegistrations, Registration } from "../support/mocks";

type Classes = { Provider: typeof DockerProvider; RemoteImage: typeof RemoteImage; Container: typeof Container };

/** The three resources as components/envoy.ts creates them, under a parent like EnvoyProxy. */
function envoyLikeResources(classes: Classes): void {
    const parent = new pulumi.ComponentResource("limen:envoy:EnvoyProxy", "frontend-envoy", {}, {});
    const sshOpts = pulumi.secret("-i /tmp/key").apply((identity) => ["-i", identity, "-o", "StrictHostKeyChecking=yes"]);
    const provider = new classes.Provider("frontend-envoy-docker", { host: "ssh://deploy@10.0.0.10:22", sshOpts, disableDockerDaemonCheck: true }, { parent });
    const image = new classes.RemoteImage("frontend-envoy-image", { name: "envoyproxy/envoy@sha256:" + "a".repeat(64), keepLocally: true }, { parent, provider });
    new classes.Container(
        "frontend-envoy-container",
        {
            name: "limen-envoy",
            image: image.imageId,
            networkMode: "host",
            restart: "unless-stopped",
            command: ["envoy", "-c", "/etc/envoy/envoy.yaml"],
            envs: ["ENVOY_UID=0"],
            mounts: [{ type: "bind", source: "/etc/limen/envoy/envoy.yaml", target: "/etc/envoy/envoy.yaml", readOnly: true }],
            labels: [{ label: "limen.envoy.config-sha256", value: "b".repeat(64) }],
            mustRun: true,
        },
        { parent, provider, dependsOn: [image], deleteBeforeReplace: true },
    );
}

describe("Envoy's Docker resources, declared without @pulumi/docker's classes", () => {
    let ours: Registration[];
    let theirs: Registration[];

    beforeAll(async () => {
        await installMocks();
        theirs = await recordRegistrations(() => envoyLikeResources(docker as unknown as Classes));
        ours = await recordRegistrations(() => envoyLikeResources({ Provider: DockerProvider, RemoteImage, Container }));
    });

    it("register the same resources as @pulumi/docker, request for request", () => {
        expect(ours.map((r) => `${r.type} ${r.name}`)).toEqual([
            "limen:envoy:EnvoyProxy frontend-envoy",
            "pulumi:providers:docker frontend-envoy-docker",
            "docker:index/remoteImage:RemoteImage frontend-envoy-image",
            "docker:index/container:Container frontend-envoy-container",
        ]);
        expect(ours.map((r) => r.request)).toEqual(theirs.map((r) => r.request));
    });

    it("ask for @pulumi/docker's plugin version, and keep the provider's SSH options secret", () => {
        const [, provider, image, container] = ours;
        expect(dockerPluginVersion).toMatch(/^\d+\.\d+\.\d+/);
        expect([provider, image, container].map((r) => r!.request.version)).toEqual([dockerPluginVersion, dockerPluginVersion, dockerPluginVersion]);
        expect(provider!.wire.sshOpts).toMatchObject({ value: JSON.stringify(["-i", "-i /tmp/key", "-o", "StrictHostKeyChecking=yes"]) });
        expect(provider!.wire.disableDockerDaemonCheck).toBe("true");
    });
});
