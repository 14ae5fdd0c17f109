/**
 * What holds the name of Envoy's container: the host tool's `container-holder` (tools/limen-host,
 * containers.go), as root (Docker's socket is root's). Run with the planned tool, installed or sent for
 * the step (hostio/host-tool-run.ts): a read must work on a host whose tool was deleted (a deleted tool is
 * drift that `up --refresh` repairs in one run).
 */
import { hostToolPath } from "../core/host-paths";
import { ToolScript, toolRequestStep } from "./host-tool-run";

/**
 * `none`, or `planned|stack|foreign ID IMAGE`: what holds container name `name`, judged against the
 * planned image `image` (pinned by digest).
 */
export function containerHolderProbeCommand(name: string, image: string): ToolScript {
    return toolRequestStep(hostToolPath, { command: "container-holder", name, image });
}
