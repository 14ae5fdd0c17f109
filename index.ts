import { limenProgram } from "./components/stack";

// The same program the lab runs (lab/stack.ts): parse config once → plan → components → outputs.
const outputs = limenProgram();

export const frontendAddress = outputs.frontendAddress;
export const backendAddress = outputs.backendAddress;
export const backendInternalEndpoint = outputs.backendInternalEndpoint;
export const pm2Apps = outputs.pm2Apps;
export const envoyEnabled = outputs.envoyEnabled;
export const frontendRulesetSha256 = outputs.frontendRulesetSha256;
export const backendRulesetSha256 = outputs.backendRulesetSha256;
export const envProductionPath = outputs.envProductionPath;
