/**
 * The Ansible peer's inputs: the lab stack's own plan (plan/hosts.ts) written out as an inventory with
 * host variables, so the peer installs byte for byte what the stack installs (the host tool, the
 * ruleset and its boot unit, the ecosystem and `.env.production`, the pm2 apps, Envoy's bootstrap and
 * container) and the two can be
 * timed against each other on the same machines (lab/bench.ts). Lab-only: the key and the host keys
 * are the lab's throwaway ones.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { parseConfig } from "../../config";
import { plannedHostToolPath } from "../../hostio/host-tool-binary";
import { FilePlan } from "../../plan/files";
import { planStack, HostPlan, StackPlan } from "../../plan/hosts";
import { labConfig, LabHosts } from "../stack";

/** What one host's plays read (lab/ansible-peer/site.yml, teardown.yml). */
function hostVars(plan: HostPlan, hosts: LabHosts, dir: string, knownHosts: string): Record<string, unknown> {
    const files = plan.files.filter((file) => plan.pm2?.loadedFiles.includes(file.name));
    // Envoy's bootstrap and, with some TLS sources, its certificate files: judged by the image first.
    const envoyFiles = plan.files.filter((file) => !plan.pm2?.loadedFiles.includes(file.name));
    // Contents as files the copy module sends as they are: inventory strings would go through Jinja.
    const source = (name: string, content: string) => {
        const file = path.join(dir, "files", plan.role, name);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, content, { mode: 0o600 });
        return file;
    };
    const fileVars = (file: FilePlan) => ({
        path: file.path,
        mode: file.mode,
        owner: file.owner.split(":")[0],
        group: file.owner.split(":")[1],
        src: source(file.name, file.content),
    });
    return {
        ansible_host: plan.ssh.address,
        ansible_port: plan.ssh.port,
        ansible_user: plan.ssh.user,
        ansible_ssh_private_key_file: hosts.deployPrivateKeyPath,
        // The pinned host key, as the stack pins it: no other key is accepted, none is learned.
        ansible_ssh_common_args: `-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes`,
        ansible_python_interpreter: "/usr/bin/python3",
        host_tool: { path: plan.hostTool.path, src: plannedHostToolPath() },
        firewall: {
            table: plan.firewall.locations.table,
            ruleset_path: plan.firewall.locations.bootRuleset,
            ruleset_src: source("ruleset", plan.firewall.ruleset),
            unit_name: plan.firewall.locations.unitName,
            unit_path: plan.firewall.locations.unitPath,
            unit_src: source("boot-unit", plan.firewall.bootUnit.content),
        },
        app_files: files.map(fileVars),
        envoy: plan.envoy
            ? {
                  image: plan.envoy.image,
                  files: envoyFiles.map(fileVars),
                  config_path: envoyFiles.find((file) => file.name === "envoy-config")!.path,
                  // The whole config as one static bootstrap, judged by the image before the files are copied.
                  validation_src: source("envoy-validation", plan.envoy.validationBootstrap),
                  admin_dir: plan.envoy.container.adminMount.source,
                  // `docker run` arguments for the container the stack's Docker provider runs.
                  name: plan.envoy.container.name,
                  run_args: [
                      "--network=host",
                      "--restart=unless-stopped",
                      ...plan.envoy.container.envs.map((env) => `--env=${env}`),
                      ...plan.envoy.container.mounts.map((mount) => `--mount=type=bind,source=${mount.source},target=${mount.target},readonly`),
                      `--mount=type=bind,source=${plan.envoy.container.adminMount.source},target=${plan.envoy.container.adminMount.target}`,
                      `--label=${plan.envoy.container.configLabel.label}=${plan.envoy.container.configLabel.value}`,
                      "--log-driver=json-file",
                      ...Object.entries(plan.envoy.container.logOpts)
                          .sort(([a], [b]) => a.localeCompare(b))
                          .map(([key, value]) => `--log-opt=${key}=${value}`),
                  ],
                  command: plan.envoy.container.command,
                  config_label: plan.envoy.container.configLabel,
                  // The copy module's validate command (%s: the new file), as the host tool judges a bootstrap.
                  validate: [
                      "docker run --rm --network=none --mount=type=bind,source=%s,target=/etc/envoy/envoy.yaml,readonly",
                      ...plan.envoy.certificateMounts.map((dir) => `--mount=type=bind,source=${dir},target=${dir},readonly`),
                      plan.envoy.image,
                      "envoy --mode validate -c /etc/envoy/envoy.yaml",
                  ].join(" "),
              }
            : null,
        pm2: plan.pm2 ? { user: plan.pm2.user, home: `/home/${plan.pm2.user}`, ecosystem: plan.pm2.ecosystemPath, apps: plan.pm2.apps.map((app) => app.name) } : null,
    };
}

/** The lab stack's plan: its config (lab/stack.ts) checked and planned as the program does it. */
export function labPlan(hosts: LabHosts): StackPlan {
    const raw = Object.fromEntries(Object.entries(labConfig(hosts)).map(([key, value]) => [key, JSON.stringify(value)]));
    raw["limen:sshPrivateKey"] = readFileSync(hosts.deployPrivateKeyPath, "utf8");
    return planStack(parseConfig(raw, (key) => key === "limen:sshPrivateKey"));
}

/** Writes `inventory.yml` (both hosts, their variables inline) and the files it names into `dir`; returns its path. */
export function writePeerInventory(hosts: LabHosts, dir: string): string {
    const plan = labPlan(hosts);
    const knownHosts = path.join(dir, "known_hosts");
    mkdirSync(dir, { recursive: true });
    writeFileSync(knownHosts, [plan.frontend, plan.backend].map((host) => `${host.ssh.address} ${host.ssh.hostKey}\n`).join(""));
    const inventory = path.join(dir, "inventory.yml");
    writeFileSync(
        inventory,
        stringify({
            all: {
                hosts: {
                    frontend: hostVars(plan.frontend, hosts, dir, knownHosts),
                    backend: hostVars(plan.backend, hosts, dir, knownHosts),
                },
            },
        }),
        { mode: 0o600 },
    );
    return inventory;
}
