/**
 * The host tool the tools tests run (a setup file of the `tools` project): tools/limen-host's binary,
 * built once (tools/limen-host/build.sh, cached by content) and checked against the committed sha256
 * (core/host-tool-release.ts), as the stack checks what it sends to a host. Every process the tests
 * start inherits its path (LIMEN_HOST_GO_BINARY): the command-line helper (test/support/host-tool-cli.sh)
 * and the probes run locally (test/support/tool-script.ts) run it.
 */
import { plannedHostToolPath } from "../../hostio/host-tool-binary";

process.env.LIMEN_HOST_GO_BINARY ??= plannedHostToolPath();
