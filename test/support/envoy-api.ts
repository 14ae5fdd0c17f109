import * as fs from "node:fs";
import * as path from "node:path";
import * as protobuf from "protobufjs";
import * as protojson from "protobufjs/ext/protojson";

/**
 * Envoy's own API definitions (the .proto files @grpc/grpc-js-xds ships) loaded with protobufjs, and a
 * strict checker for configuration objects as Envoy reads them from YAML: ProtoJSON with proto or json
 * field names, unknown fields rejected, google.protobuf.Any expanded by its @type, and the cheap part of
 * the protoc-gen-validate rules Envoy enforces after parsing.
 */
export interface EnvoyApi {
  /** The loaded and resolved protobufjs root. */
  readonly root: protobuf.Root;
  /** Problems in a parsed envoy.config.bootstrap.v3.Bootstrap, each prefixed with its field path; [] when valid. */
  checkEnvoyBootstrap(config: unknown): string[];
  /** Same check for any loaded message type, e.g. "envoy.config.route.v3.RouteConfiguration". */
  checkEnvoyMessage(typeName: string, value: unknown): string[];
}

const depsDir = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const protoRoots = ["envoy-api", "xds", "protoc-gen-validate", "googleapis"].map((dir) => path.join(depsDir, dir));
// google/protobuf/*.proto that protobufjs does not bundle in common.js (descriptor.proto) ship beside it.
const protobufjsDir = path.dirname(require.resolve("protobufjs/package.json"));

/** The bootstrap plus the extensions an edge proxy names in typed_config; each must exist, so a rename fails loudly. */
export const envoyProtoFiles: readonly string[] = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/http/health_check/v3/health_check.proto",
  "envoy/extensions/filters/http/buffer/v3/buffer.proto",
  "envoy/extensions/filters/http/compressor/v3/compressor.proto",
  "envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/compression/gzip/compressor/v3/gzip.proto",
  "envoy/extensions/compression/brotli/compressor/v3/brotli.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/request_id/uuid/v3/uuid.proto",
  "envoy/extensions/resource_monitors/fixed_heap/v3/fixed_heap.proto",
  "envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto",
  "xds/type/v3/typed_struct.proto",
  "udpa/type/v1/typed_struct.proto",
];

let cached: Promise<EnvoyApi> | undefined;

/** Loads the protos once per process (vitest worker); later calls share the same promise. */
export function loadEnvoyApi(): Promise<EnvoyApi> {
  cached ??= loadUncached().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function loadUncached(): Promise<EnvoyApi> {
  const root = new protobuf.Root();
  root.resolvePath = (origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    const candidates = target.startsWith("google/protobuf/") ? [protobufjsDir] : protoRoots;
    for (const dir of candidates) {
      const file = path.join(dir, target);
      if (fs.existsSync(file)) return file;
    }
    throw new Error(`envoy-api: ${target} (imported from ${origin === "" ? "the load list" : origin}) is in none of ${candidates.join(", ")}`);
  };
  await root.load([...envoyProtoFiles], { keepCase: true });
  root.resolveAll();
  return {
    root,
    checkEnvoyBootstrap: (config) => checkMessage(root, "envoy.config.bootstrap.v3.Bootstrap", config),
    checkEnvoyMessage: (typeName, value) => checkMessage(root, typeName, value),
  };
}

function checkMessage(root: protobuf.Root, typeName: string, value: unknown): string[] {
  const type = root.lookupType(typeName);
  const checker = new Checker(root);
  checker.message(type, value, "", 0);
  if (checker.errors.length === 0) {
    // A second, independent judge: protobufjs's own ProtoJSON parser. It is more lenient than this
    // checker (no PGV, open enums, Any without @type), so it only catches mistakes in the walk below.
    try {
      protojson.fromJson(type, value);
    } catch (err) {
      checker.errors.push(`(root): protobufjs ProtoJSON parser rejects it: ${(err as Error).message}`);
    }
  }
  return checker.errors;
}

type Rules = Record<string, unknown>;

/** What a value parsed to, in a form the validate rules can compare; INVALID once an error is recorded. */
const INVALID = Symbol("invalid");
type Parsed = typeof INVALID | bigint | number | boolean | string | Uint8Array | AnyRef | object;
interface AnyRef {
  readonly anyTypeUrl: string;
}

const MAX_DEPTH = 100;
const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};
const FLOAT_MAX = 3.4028234663852886e38;
const NUMERIC_RE = /^[+-]?(?:[0-9]*\.[0-9]+|[0-9]+\.?)(?:[eE][+-]?[0-9]+)?$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/\-_]{4})*(?:[A-Za-z0-9+/\-_]{2}(?:==)?|[A-Za-z0-9+/\-_]{3}=?)?$/;
const DURATION_RE = /^(-)?([0-9]+)(?:\.([0-9]{1,9}))?s$/;
const MAX_DURATION_SECONDS = 315576000000n;
const TIMESTAMP_RE =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const WRAPPERS: Record<string, string> = {
  ".google.protobuf.DoubleValue": "double",
  ".google.protobuf.FloatValue": "float",
  ".google.protobuf.Int64Value": "int64",
  ".google.protobuf.UInt64Value": "uint64",
  ".google.protobuf.Int32Value": "int32",
  ".google.protobuf.UInt32Value": "uint32",
  ".google.protobuf.BoolValue": "bool",
  ".google.protobuf.StringValue": "string",
  ".google.protobuf.BytesValue": "bytes",
};
// Types whose ProtoJSON form is not an object of fields: inside an Any they sit under "value".
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  ".google.protobuf.Any",
  ".google.protobuf.Duration",
  ".google.protobuf.Timestamp",
  ".google.protobuf.FieldMask",
  ".google.protobuf.Struct",
  ".google.protobuf.Value",
  ".google.protobuf.ListValue",
]);
// Envoy unpacks these into the message named by their type_url, so that message's rules apply to "value".
const TYPED_STRUCTS = new Set([".xds.type.v3.TypedStruct", ".udpa.type.v1.TypedStruct"]);
// protoc-gen-validate's definitions (validate/validate.proto) for the two well-known regexes Envoy uses.
const HEADER_NAME_RE = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE_RE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE_RE = /^[^\u0000\u000A\u000D]*$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  const kind = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  const text = JSON.stringify(value) ?? String(value);
  return `${kind} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

function plainName(fullName: string): string {
  return fullName.startsWith(".") ? fullName.slice(1) : fullName;
}

function at(base: string, key: string): string {
  return base === "" ? key : `${base}.${key}`;
}

class Checker {
  readonly errors: string[] = [];
  private readonly keyIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

  constructor(private readonly root: protobuf.Root) {}

  private fail(where: string, problem: string): typeof INVALID {
    this.errors.push(`${where === "" ? "(root)" : where}: ${problem}`);
    return INVALID;
  }

  /** Proto field names and json_names both name a field, as in Envoy's JSON parser. */
  private fieldsByKey(type: protobuf.Type): Map<string, protobuf.Field> {
    let index = this.keyIndex.get(type);
    if (!index) {
      index = new Map();
      for (const field of type.fieldsArray) {
        field.resolve();
        index.set(field.name, field);
        if (field.jsonName !== undefined) index.set(field.jsonName, field);
      }
      this.keyIndex.set(type, index);
    }
    return index;
  }

  message(type: protobuf.Type, value: unknown, where: string, depth: number): Parsed {
    if (depth > MAX_DEPTH) return this.fail(where, `nested deeper than ${MAX_DEPTH} messages`);
    const special = this.wellKnown(type, value, where, depth);
    if (special !== undefined) return special;
    if (!isObject(value)) return this.fail(where, `expected an object (${plainName(type.fullName)}), got ${show(value)}`);
    this.fields(type, value, new Set(), where, depth);
    return value;
  }

  /** Checks the members of `value` as fields of `type`; keys in `skip` were handled by the caller (Any's @type). */
  private fields(type: protobuf.Type, value: Record<string, unknown>, skip: Set<string>, where: string, depth: number): void {
    const index = this.fieldsByKey(type);
    const seen = new Map<protobuf.Field, string>();
    const oneofSetBy = new Map<string, string>();
    const parsed = new Map<protobuf.Field, Parsed>();
    for (const [key, raw] of Object.entries(value)) {
      if (skip.has(key)) continue;
      const here = at(where, key);
      const field = index.get(key);
      if (!field) {
        this.fail(here, `unknown field "${key}" in ${plainName(type.fullName)}`);
        continue;
      }
      const earlier = seen.get(field);
      if (earlier !== undefined) {
        this.fail(here, `field "${field.name}" given twice (as "${earlier}" and "${key}")`);
        continue;
      }
      seen.set(field, key);
      // ProtoJSON: null means "not set", except where null is a value (google.protobuf.Value, NullValue).
      if (raw === null && !acceptsNull(field)) continue;
      if (field.partOf) {
        const other = oneofSetBy.get(field.partOf.name);
        if (other !== undefined)
          this.fail(here, `oneof "${field.partOf.name}" of ${plainName(type.fullName)} already set by "${other}"; at most one of its fields may be set`);
        else oneofSetBy.set(field.partOf.name, key);
      }
      parsed.set(field, this.field(field, raw, here, depth));
    }
    this.validateRules(type, parsed, oneofSetBy, where);
  }

  private field(field: protobuf.Field, value: unknown, where: string, depth: number): Parsed {
    if (field.map) {
      if (!isObject(value)) return this.fail(where, `expected an object (map), got ${show(value)}`);
      const keyType = (field as unknown as protobuf.MapField).keyType;
      const out = new Map<string, Parsed>();
      for (const [key, item] of Object.entries(value)) {
        const here = `${where}[${JSON.stringify(key)}]`;
        this.mapKey(keyType, key, here);
        out.set(key, this.single(field, item, here, depth));
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.fail(where, `expected a list, got ${show(value)}`);
      return value.map((item: unknown, i) => this.single(field, item, `${where}[${i}]`, depth));
    }
    return this.single(field, value, where, depth);
  }

  private single(field: protobuf.Field, value: unknown, where: string, depth: number): Parsed {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, where, depth + 1);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, where);
    return this.scalar(field.type, value, where);
  }

  private mapKey(keyType: string, key: string, where: string): void {
    if (keyType === "string") return;
    if (keyType === "bool") {
      if (key !== "true" && key !== "false") this.fail(where, `map key must be "true" or "false"`);
      return;
    }
    if (!/^-?[0-9]+$/.test(key)) {
      this.fail(where, `map key must be a ${keyType}`);
      return;
    }
    this.scalar(keyType, key, where);
  }

  private enumValue(enm: protobuf.Enum, value: unknown, where: string): Parsed {
    const name = plainName(enm.fullName);
    if (enm.fullName === ".google.protobuf.NullValue" && value === null) return 0;
    if (typeof value === "string") {
      if (Object.prototype.hasOwnProperty.call(enm.values, value)) return enm.values[value] as number;
      return this.fail(where, `${JSON.stringify(value)} is not a value of enum ${name} (one of ${Object.keys(enm.values).join(", ")})`);
    }
    if (typeof value === "number" && Number.isInteger(value)) {
      if (enm.valuesById[value] !== undefined) return value;
      return this.fail(where, `${value} is not a number of enum ${name}`);
    }
    return this.fail(where, `expected enum ${name} (a value name), got ${show(value)}`);
  }

  private scalar(type: string, value: unknown, where: string): Parsed {
    const range = INT_RANGES[type];
    if (range) {
      const int = parseInteger(value);
      if (int === undefined) return this.fail(where, `expected ${type} (an integer, or a decimal string), got ${show(value)}`);
      if (int < range[0] || int > range[1]) return this.fail(where, `${int} is out of range for ${type} (${range[0]}..${range[1]})`);
      return int;
    }
    switch (type) {
      case "double":
      case "float": {
        const num = parseFloating(value);
        if (num === undefined) return this.fail(where, `expected ${type}, got ${show(value)}`);
        if (type === "float" && Math.abs(num) > FLOAT_MAX && Number.isFinite(num))
          return this.fail(where, `${num} is out of range for float`);
        return num;
      }
      case "bool":
        return typeof value === "boolean" ? value : this.fail(where, `expected bool (true or false), got ${show(value)}`);
      case "string":
        return typeof value === "string" ? value : this.fail(where, `expected string, got ${show(value)}`);
      case "bytes":
        if (typeof value !== "string" || !BASE64_RE.test(value))
          return this.fail(where, `expected bytes as a base64 string, got ${show(value)}`);
        return Buffer.from(value, "base64");
      default:
        return this.fail(where, `field of unsupported scalar type ${type}`);
    }
  }

  /** ProtoJSON forms of the well-known types; undefined when `type` is an ordinary message. */
  private wellKnown(type: protobuf.Type, value: unknown, where: string, depth: number): Parsed | undefined {
    const name = type.fullName;
    const wrapped = WRAPPERS[name];
    if (wrapped !== undefined) {
      if (isObject(value)) return this.fail(where, `expected a plain ${wrapped} (${plainName(name)} is written unwrapped), got ${show(value)}`);
      return this.scalar(wrapped, value, where);
    }
    switch (name) {
      case ".google.protobuf.Any":
        return this.any(value, where, depth);
      case ".google.protobuf.Duration":
        return this.duration(value, where);
      case ".google.protobuf.Timestamp":
        if (typeof value !== "string" || !TIMESTAMP_RE.test(value) || Number.isNaN(Date.parse(value)))
          return this.fail(where, `expected an RFC 3339 timestamp string like "2024-01-31T12:00:00Z", got ${show(value)}`);
        return value;
      case ".google.protobuf.FieldMask":
        return typeof value === "string" ? value : this.fail(where, `expected a field mask string, got ${show(value)}`);
      case ".google.protobuf.Struct":
        if (!isObject(value)) return this.fail(where, `expected an object (google.protobuf.Struct), got ${show(value)}`);
        return this.json(value, where, depth) ? value : INVALID;
      case ".google.protobuf.ListValue":
        if (!Array.isArray(value)) return this.fail(where, `expected a list (google.protobuf.ListValue), got ${show(value)}`);
        return this.json(value, where, depth) ? value : INVALID;
      case ".google.protobuf.Value":
        return this.json(value, where, depth) ? (value as object) : INVALID;
      default:
        return undefined;
    }
  }

  /** Struct and Value hold any JSON; a YAML parser can still hand over what JSON cannot carry. */
  private json(value: unknown, where: string, depth: number): boolean {
    if (depth > MAX_DEPTH) return this.fail(where, `nested deeper than ${MAX_DEPTH} levels`) !== INVALID;
    if (value === null || typeof value === "string" || typeof value === "boolean") return true;
    if (typeof value === "number")
      return Number.isFinite(value) || this.fail(where, `google.protobuf.Value cannot hold ${value}`) !== INVALID;
    if (Array.isArray(value)) return value.every((item: unknown, i) => this.json(item, `${where}[${i}]`, depth + 1));
    if (isObject(value)) return Object.entries(value).every(([k, item]) => this.json(item, at(where, k), depth + 1));
    return this.fail(where, `expected JSON, got ${show(value)}`) !== INVALID;
  }

  private duration(value: unknown, where: string): Parsed {
    const match = typeof value === "string" ? DURATION_RE.exec(value) : null;
    if (!match) return this.fail(where, `expected a duration string like "15s" or "0.5s", got ${show(value)}`);
    const seconds = BigInt(match[2] ?? "0");
    if (seconds > MAX_DURATION_SECONDS) return this.fail(where, `duration ${String(value)} is out of range`);
    const nanos = BigInt((match[3] ?? "").padEnd(9, "0"));
    return (match[1] ? -1n : 1n) * (seconds * 1_000_000_000n + nanos);
  }

  private any(value: unknown, where: string, depth: number): Parsed {
    if (!isObject(value)) return this.fail(where, `expected an object with "@type" (google.protobuf.Any), got ${show(value)}`);
    const typeUrl = value["@type"];
    if (typeof typeUrl !== "string" || !typeUrl.includes("/"))
      return this.fail(at(where, "@type"), `google.protobuf.Any needs "@type": "type.googleapis.com/<message full name>", got ${show(typeUrl)}`);
    const inner = this.lookupMessage(typeUrl);
    if (!inner) return this.fail(at(where, "@type"), `unknown type ${JSON.stringify(typeUrl)}: no such message in the loaded Envoy protos`);
    if (SPECIAL_JSON.has(inner.fullName)) {
      for (const key of Object.keys(value))
        if (key !== "@type" && key !== "value") this.fail(at(where, key), `unknown field "${key}" in google.protobuf.Any holding ${plainName(inner.fullName)} (only "value")`);
      this.message(inner, value["value"], at(where, "value"), depth + 1);
    } else {
      this.fields(inner, value, new Set(["@type"]), where, depth + 1);
      if (TYPED_STRUCTS.has(inner.fullName)) this.typedStruct(value, where, depth);
    }
    return { anyTypeUrl: typeUrl } satisfies AnyRef;
  }

  private typedStruct(value: Record<string, unknown>, where: string, depth: number): void {
    const typeUrl = value["type_url"] ?? value["typeUrl"];
    if (typeof typeUrl !== "string") return;
    const target = this.lookupMessage(typeUrl);
    if (!target) {
      this.fail(at(where, "type_url"), `unknown type ${JSON.stringify(typeUrl)}: no such message in the loaded Envoy protos`);
      return;
    }
    this.message(target, value["value"] ?? {}, at(where, "value"), depth + 1);
  }

  private lookupMessage(typeUrl: string): protobuf.Type | undefined {
    const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
    if (name === "") return undefined;
    const found = this.root.lookup(name.startsWith(".") ? name : `.${name}`);
    return found instanceof protobuf.Type ? found : undefined;
  }

  // ---- protoc-gen-validate: the rules Envoy checks after parsing (envoy/.../validate.proto) ----

  private validateRules(type: protobuf.Type, parsed: Map<protobuf.Field, Parsed>, oneofSetBy: Map<string, string>, where: string): void {
    for (const oneof of type.oneofsArray) {
      if (oneof.getOption("(validate.required)") === true && !oneofSetBy.has(oneof.name))
        this.fail(where, `one of ${oneof.oneof.join(", ")} is required in ${plainName(type.fullName)} [oneof ${oneof.name}: (validate.required)]`);
    }
    for (const field of type.fieldsArray) {
      const rules = fieldRules(field);
      if (!rules) continue;
      const here = at(where, field.name);
      const value = parsed.get(field);
      if (value === INVALID) continue;
      if (value === undefined) {
        this.validateAbsent(field, rules, here);
        continue;
      }
      if (field.map) this.validateMap(rules, value as Map<string, Parsed>, here);
      else if (field.repeated) this.validateRepeated(rules, value as Parsed[], here);
      else this.validateValue(rules, value, here);
    }
  }

  /** Proto3 scalars without presence are checked at their default value, as PGV does; messages only for required. */
  private validateAbsent(field: protobuf.Field, rules: Rules, where: string): void {
    // A oneof member's rules, "required" included, apply only to the member that is set.
    if (field.partOf) return;
    if (field.repeated || field.map) {
      const count = field.map ? "map" : "repeated";
      this.validateKind(count, rules[count], field.map ? new Map<string, Parsed>() : [], where);
      return;
    }
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      for (const [kind, rule] of Object.entries(rules))
        if (isObject(rule) && rule["required"] === true) this.fail(where, `is required [(validate.rules).${kind}.required]`);
      return;
    }
    if (field.hasPresence) return;
    const fallback: Parsed = resolved instanceof protobuf.Enum ? 0 : defaultScalar(field.type);
    this.validateValue(rules, fallback, where);
  }

  private validateRepeated(rules: Rules, items: Parsed[], where: string): void {
    this.validateKind("repeated", rules["repeated"], items, where);
  }

  private validateMap(rules: Rules, entries: Map<string, Parsed>, where: string): void {
    this.validateKind("map", rules["map"], entries, where);
  }

  private validateValue(rules: Rules, value: Parsed, where: string): void {
    for (const [kind, rule] of Object.entries(rules)) this.validateKind(kind, rule, value, where);
  }

  private validateKind(kind: string, rule: unknown, value: Parsed | Parsed[] | Map<string, Parsed>, where: string): void {
    if (!isObject(rule) || value === INVALID) return;
    const broken = (name: string, shown: string = describeParsed(kind, value)): void => {
      this.fail(where, `${shown} violates (validate.rules).${kind}.${name} = ${describeRule(kind, rule[name])}`);
    };
    if (kind === "repeated" && Array.isArray(value)) {
      const count = BigInt(value.length);
      if (rule["min_items"] !== undefined && count < toBigInt(rule["min_items"])) broken("min_items", `${value.length} item(s)`);
      if (rule["max_items"] !== undefined && count > toBigInt(rule["max_items"])) broken("max_items", `${value.length} item(s)`);
      if (rule["unique"] === true) {
        const keys = value.map((item) => JSON.stringify(item, bigintJson));
        if (new Set(keys).size !== keys.length) broken("unique", "a list with a repeated item");
      }
      if (isObject(rule["items"])) value.forEach((item, i) => this.validateValue(rule["items"] as Rules, item, `${where}[${i}]`));
      return;
    }
    if (kind === "map" && value instanceof Map) {
      const count = BigInt(value.size);
      if (rule["min_pairs"] !== undefined && count < toBigInt(rule["min_pairs"])) broken("min_pairs", `${value.size} pair(s)`);
      if (rule["max_pairs"] !== undefined && count > toBigInt(rule["max_pairs"])) broken("max_pairs", `${value.size} pair(s)`);
      for (const [key, item] of value) {
        const here = `${where}[${JSON.stringify(key)}]`;
        if (isObject(rule["keys"])) this.validateValue(rule["keys"] as Rules, key, here);
        if (isObject(rule["values"])) this.validateValue(rule["values"] as Rules, item, here);
      }
      return;
    }
    if (rule["ignore_empty"] === true && isEmptyValue(value)) return;
    if (typeof value === "string" && (kind === "string" || kind === "bytes")) {
      this.validateString(kind, rule, value, broken);
      return;
    }
    if (value instanceof Uint8Array && kind === "bytes") {
      const length = BigInt(value.length);
      if (rule["min_len"] !== undefined && length < toBigInt(rule["min_len"])) broken("min_len", `${value.length} byte(s)`);
      if (rule["max_len"] !== undefined && length > toBigInt(rule["max_len"])) broken("max_len", `${value.length} byte(s)`);
      if (rule["len"] !== undefined && length !== toBigInt(rule["len"])) broken("len", `${value.length} byte(s)`);
      return;
    }
    if (kind === "any" && isAnyRef(value)) {
      const allowed = asList(rule["in"]);
      if (allowed.length > 0 && !allowed.includes(value.anyTypeUrl)) broken("in");
      if (asList(rule["not_in"]).includes(value.anyTypeUrl)) broken("not_in");
      return;
    }
    if (kind === "bool" && typeof value === "boolean") {
      if (rule["const"] !== undefined && rule["const"] !== value) broken("const");
      return;
    }
    if (kind === "enum" && typeof value === "number") {
      // defined_only holds already: an undefined number is a parse error above.
      if (rule["const"] !== undefined && toBigInt(rule["const"]) !== BigInt(value)) broken("const");
      const allowed = asList(rule["in"]).map(toBigInt);
      if (allowed.length > 0 && !allowed.includes(BigInt(value))) broken("in");
      if (asList(rule["not_in"]).map(toBigInt).includes(BigInt(value))) broken("not_in");
      return;
    }
    if (kind === "duration" && typeof value === "bigint") {
      this.validateOrdered(rule, value, durationNanos, broken);
      return;
    }
    if (typeof value === "bigint") this.validateOrdered(rule, value, toBigInt, broken);
    else if (typeof value === "number") this.validateOrdered(rule, value, Number, broken);
  }

  private validateString(kind: string, rule: Rules, value: string, broken: (name: string) => void): void {
    const chars = BigInt([...value].length);
    const bytes = BigInt(Buffer.byteLength(value, "utf8"));
    const lengthOf = kind === "string" ? chars : bytes;
    if (rule["min_len"] !== undefined && lengthOf < toBigInt(rule["min_len"])) broken("min_len");
    if (rule["max_len"] !== undefined && lengthOf > toBigInt(rule["max_len"])) broken("max_len");
    if (rule["len"] !== undefined && lengthOf !== toBigInt(rule["len"])) broken("len");
    if (rule["min_bytes"] !== undefined && bytes < toBigInt(rule["min_bytes"])) broken("min_bytes");
    if (rule["max_bytes"] !== undefined && bytes > toBigInt(rule["max_bytes"])) broken("max_bytes");
    if (typeof rule["const"] === "string" && value !== rule["const"]) broken("const");
    if (typeof rule["prefix"] === "string" && !value.startsWith(rule["prefix"])) broken("prefix");
    if (typeof rule["suffix"] === "string" && !value.endsWith(rule["suffix"])) broken("suffix");
    if (typeof rule["contains"] === "string" && !value.includes(rule["contains"])) broken("contains");
    if (typeof rule["not_contains"] === "string" && value.includes(rule["not_contains"])) broken("not_contains");
    const allowed = asList(rule["in"]);
    if (allowed.length > 0 && !allowed.includes(value)) broken("in");
    if (asList(rule["not_in"]).includes(value)) broken("not_in");
    if (typeof rule["pattern"] === "string" && !new RegExp(rule["pattern"]).test(value)) broken("pattern");
    const strict = rule["strict"] !== false;
    if (rule["well_known_regex"] === "HTTP_HEADER_NAME" && !(strict ? HEADER_NAME_RE : HEADER_LOOSE_RE).test(value))
      broken("well_known_regex");
    if (rule["well_known_regex"] === "HTTP_HEADER_VALUE" && !(strict ? HEADER_VALUE_RE : HEADER_LOOSE_RE).test(value))
      broken("well_known_regex");
  }

  /** const/lt/lte/gt/gte/in/not_in, where lt < gt means "outside the range", as PGV defines it. */
  private validateOrdered<T extends bigint | number>(rule: Rules, value: T, convert: (raw: unknown) => T, broken: (name: string) => void): void {
    if (rule["const"] !== undefined && value !== convert(rule["const"])) broken("const");
    const allowed = asList(rule["in"]).map(convert);
    if (allowed.length > 0 && !allowed.includes(value)) broken("in");
    if (asList(rule["not_in"]).map(convert).includes(value)) broken("not_in");
    const lowerName = rule["gt"] !== undefined ? "gt" : rule["gte"] !== undefined ? "gte" : undefined;
    const upperName = rule["lt"] !== undefined ? "lt" : rule["lte"] !== undefined ? "lte" : undefined;
    const lower = lowerName === undefined ? undefined : convert(rule[lowerName]);
    const upper = upperName === undefined ? undefined : convert(rule[upperName]);
    const aboveLower = lower === undefined || (lowerName === "gt" ? value > lower : value >= lower);
    const belowUpper = upper === undefined || (upperName === "lt" ? value < upper : value <= upper);
    if (lower !== undefined && upper !== undefined && upper < lower) {
      if (!aboveLower && !belowUpper) broken(`${lowerName ?? ""}`);
      return;
    }
    if (!aboveLower && lowerName !== undefined) broken(lowerName);
    if (!belowUpper && upperName !== undefined) broken(upperName);
  }
}

function acceptsNull(field: protobuf.Field): boolean {
  const resolved = field.resolvedType;
  return resolved !== null && (resolved.fullName === ".google.protobuf.Value" || resolved.fullName === ".google.protobuf.NullValue");
}

function parseInteger(value: unknown): bigint | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) || (Number.isInteger(value) && Number.isFinite(value)) ? BigInt(value) : undefined;
  if (typeof value !== "string" || value.trim() !== value || value === "") return undefined;
  if (/^[+-]?[0-9]+$/.test(value)) return BigInt(value.replace(/^\+/, ""));
  if (NUMERIC_RE.test(value)) {
    const num = Number(value);
    return Number.isInteger(num) ? BigInt(num) : undefined;
  }
  return undefined;
}

function parseFloating(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (typeof value === "string" && value.trim() === value && NUMERIC_RE.test(value)) return Number(value);
  return undefined;
}

/** The validate rules on a field: every "(validate.rules)" option entry, merged. */
function fieldRules(field: protobuf.Field): Rules | undefined {
  let rules: Rules | undefined;
  for (const option of field.parsedOptions ?? []) {
    const entry: unknown = (option as Record<string, unknown>)["(validate.rules)"];
    if (isObject(entry)) rules = deepMerge(rules ?? {}, entry);
  }
  return rules;
}

function deepMerge(into: Rules, from: Rules): Rules {
  const out: Rules = { ...into };
  for (const [key, value] of Object.entries(from)) {
    const existing = out[key];
    out[key] = isObject(existing) && isObject(value) ? deepMerge(existing, value) : value;
  }
  return out;
}

function defaultScalar(type: string): Parsed {
  if (INT_RANGES[type]) return 0n;
  if (type === "double" || type === "float") return 0;
  if (type === "bool") return false;
  if (type === "bytes") return new Uint8Array();
  return "";
}

function isEmptyValue(value: Parsed | Parsed[] | Map<string, Parsed>): boolean {
  return value === "" || value === 0 || value === 0n || value === false || (value instanceof Uint8Array && value.length === 0);
}

function isAnyRef(value: unknown): value is AnyRef {
  return isObject(value) && typeof value["anyTypeUrl"] === "string";
}

function asList(raw: unknown): unknown[] {
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [raw];
}

function toBigInt(raw: unknown): bigint {
  if (typeof raw === "bigint") return raw;
  if (typeof raw === "number") return BigInt(Math.trunc(raw));
  return BigInt(String(raw));
}

/** A Duration rule value as parsed options give it ({} for zero, { seconds, nanos } otherwise) in nanoseconds. */
function durationNanos(raw: unknown): bigint {
  if (!isObject(raw)) return 0n;
  const seconds = raw["seconds"] === undefined ? 0n : toBigInt(raw["seconds"]);
  const nanos = raw["nanos"] === undefined ? 0n : toBigInt(raw["nanos"]);
  return seconds * 1_000_000_000n + nanos;
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function describeParsed(kind: string, value: unknown): string {
  if (kind === "duration" && typeof value === "bigint") return formatDuration(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return JSON.stringify(value);
  if (isAnyRef(value)) return value.anyTypeUrl;
  return JSON.stringify(value, bigintJson) ?? String(value);
}

function describeRule(kind: string, raw: unknown): string {
  if (kind === "duration") return Array.isArray(raw) ? raw.map((item) => formatDuration(durationNanos(item))).join(", ") : formatDuration(durationNanos(raw));
  return JSON.stringify(raw, bigintJson) ?? String(raw);
}

function formatDuration(nanos: bigint): string {
  const sign = nanos < 0n ? "-" : "";
  const abs = nanos < 0n ? -nanos : nanos;
  const fraction = (abs % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${sign}${abs / 1_000_000_000n}${fraction === "" ? "" : `.${fraction}`}s`;
}
