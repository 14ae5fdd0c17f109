import { hostForUrl } from "./components/addresses";
import { createLimenStack, loadStackConfig } from "./components/stack";

// Config is checked as a whole before anything is registered: a wrong setting never reaches a host.
const config = loadStackConfig();
const stack = createLimenStack(config);

export const frontendAddress = config.frontend.address;
export const backendAddress = config.backend.address;
export const backendInternalEndpoint = `${hostForUrl(config.backend.internalAddress)}:${config.backend.apiPort}`;
export const pm2Apps = [config.apps.limenFrontend.name, config.apps.darc.name];
export const envoyEnabled = config.envoy.enabled;
export const frontendRulesetSha256 = stack.frontendFirewall.rulesetSha256;
export const backendRulesetSha256 = stack.backendFirewall.rulesetSha256;
export const envProductionPath = stack.apps.envFilePath;
