/**
 * Set up before every unit test file: the program runs under mocks with throwaway keys, so the Docker
 * provider's SSH key goes to no agent (hostio/ssh-material.ts; test/hostio/ssh-material.tools.test.ts runs the real
 * loader against an agent of its own), and its public files go to a private directory of the run's.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { setAgentLoader } from "../../hostio/ssh-material";

process.env.XDG_RUNTIME_DIR = mkdtempSync(path.join(tmpdir(), "limen-unit-runtime-"));
setAgentLoader(() => "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForUnitTests unit-test\n");
