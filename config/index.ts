/**
 * The stack's configuration: one strict schema split by section (./schema), the rules that compare
 * keys (./rules.ts), and loading with its messages (./load.ts, ./messages.ts). parseConfig runs once,
 * before any resource is registered, and either returns the typed config or throws one ConfigError
 * naming every problem.
 */
export { ConfigError, parseConfig } from "./load";
export type { ConfigProblem, LimenConfig, ParseOptions } from "./load";
export { configNamespace, configSchema, secretKeys } from "./schema";
export { bindEnvKeys, envEntryProblem, seedEnvKeys } from "./env-values";
export { crossKeyRules } from "./rules";
export { keyName } from "./messages";
export type { KeyPath } from "./view";
