// The JSON Schema subset node-llama-cpp 3.21.1 turns into grammars (its GbnfJsonSchema type).
// node-llama-cpp silently drops keywords it does not support, so a schema is checked here first
// and anything outside the subset is refused, naming the keyword and where it is.
import { GrammarError } from "./engine.ts";


/** Keywords that describe but never constrain; allowed anywhere and ignored. */
const ANNOTATIONS = new Set(["description", "title", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"]);
const SCALAR_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);
const STRING_FORMATS = new Set(["date-time", "time", "date"]);
type SchemaKind = "ref" | "oneOf" | "const" | "enum" | "object" | "array" | "string" | "scalar";
const KEYWORDS: Record<SchemaKind, ReadonlySet<string>> = {
  ref: new Set(["$ref", "$defs"]),
  oneOf: new Set(["oneOf", "$defs"]),
  const: new Set(["const", "type"]),
  enum: new Set(["enum", "type"]),
  object: new Set(["type", "properties", "additionalProperties", "minProperties", "maxProperties", "required", "$defs"]),
  array: new Set(["type", "items", "prefixItems", "minItems", "maxItems", "$defs"]),
  string: new Set(["type", "minLength", "maxLength", "format"]),
  scalar: new Set(["type"]),
};
/** Deeper schemas are refused before node-llama-cpp's own recursion limit (512) is reached. */
const MAX_SCHEMA_DEPTH = 64;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isLiteral = (v: unknown) => v === null || ["string", "number", "boolean"].includes(typeof v);

function refuse(keyword: string, path: string, detail = ""): GrammarError {
  return new GrammarError(`unsupported JSON Schema keyword "${keyword}" at ${path || "#"}${detail ? `: ${detail}` : ""}`, keyword);
}

/**
 * Checks a schema against the subset and returns it ready for createGrammarForJsonSchema, with
 * `anyOf` renamed `oneOf` (node-llama-cpp's oneOf grammar accepts any matching branch, which is
 * what anyOf means; Pydantic writes anyOf for every Optional field). Throws GrammarError naming
 * the first keyword that would not be enforced.
 */
export function checkJsonSchema(schema: unknown): Json {
  const checked = checkSchema(schema, "#", new Set(), 0);
  refuseEmptyLoops(checked);
  return checked;
}

function checkSchema(schema: unknown, path: string, defs: ReadonlySet<string>, depth: number): Json {
  if (depth > MAX_SCHEMA_DEPTH) throw new GrammarError(`JSON Schema nested deeper than ${MAX_SCHEMA_DEPTH} levels at ${path}`);
  if (!isObject(schema)) throw new GrammarError(`a JSON Schema must be an object at ${path} (boolean schemas are not supported)`);
  const s: Json = { ...schema };
  if ("anyOf" in s) {
    if ("oneOf" in s) throw refuse("anyOf", path, "anyOf together with oneOf");
    s.oneOf = s.anyOf;
    delete s.anyOf;
  }
  const scope = new Set(defs);
  if (s.$defs !== undefined) {
    if (!isObject(s.$defs)) throw refuse("$defs", path, "must be an object");
    for (const name of Object.keys(s.$defs)) scope.add(name);
  }
  const kind = schemaKind(s, path);
  for (const key of Object.keys(s)) if (!ANNOTATIONS.has(key) && !KEYWORDS[kind].has(key)) throw refuse(key, path);
  const sub = (v: unknown, p: string) => checkSchema(v, p, scope, depth + 1);
  if (isObject(s.$defs)) s.$defs = mapValues(s.$defs, (v, k) => sub(v, `${path}/$defs/${k}`));
  checkChildren(s, kind, path, scope, sub);
  return s;
}

function schemaKind(s: Json, path: string): SchemaKind {
  if ("$ref" in s) return "ref";
  if ("oneOf" in s) return "oneOf";
  if ("const" in s) return "const";
  if ("enum" in s) return "enum";
  const type = s.type;
  if (type === "object" || type === "array" || type === "string") return type;
  if (typeof type === "string" && SCALAR_TYPES.has(type)) return "scalar";
  if (Array.isArray(type) && type.length > 0 && type.every((t) => typeof t === "string" && SCALAR_TYPES.has(t))) return "scalar";
  if (type === undefined) {
    // {"allOf": ...} or {"not": ...}: name the keyword rather than the missing type.
    const other = Object.keys(s).find((k) => !ANNOTATIONS.has(k));
    if (other !== undefined) throw refuse(other, path);
    throw new GrammarError(`JSON Schema at ${path} has no "type" (nor const, enum, anyOf, oneOf or $ref)`, "type");
  }
  throw refuse("type", path, `${JSON.stringify(type)} (a list of types may hold only string, number, integer, boolean and null)`);
}

function checkChildren(s: Json, kind: SchemaKind, path: string, defs: ReadonlySet<string>, sub: (v: unknown, p: string) => Json): void {
  if (kind === "ref") {
    const ref = s.$ref;
    const name = typeof ref === "string" && ref.startsWith("#/$defs/") ? ref.slice("#/$defs/".length) : undefined;
    if (name === undefined || !defs.has(name)) throw refuse("$ref", path, `${JSON.stringify(ref)} (only "#/$defs/<name>" of a $defs in scope)`);
  } else if (kind === "oneOf") {
    if (!Array.isArray(s.oneOf) || s.oneOf.length === 0) throw refuse("oneOf", path, "must be a non-empty list");
    s.oneOf = s.oneOf.map((v, i) => sub(v, `${path}/oneOf/${i}`));
  } else if (kind === "const" && !isLiteral(s.const)) {
    throw refuse("const", path, "only string, number, boolean or null values");
  } else if (kind === "enum" && (!Array.isArray(s.enum) || s.enum.length === 0 || !s.enum.every(isLiteral))) {
    throw refuse("enum", path, "must be a non-empty list of string, number, boolean or null values");
  } else if (kind === "string") {
    checkCounts(s, path, "minLength", "maxLength");
    if (s.format !== undefined && !STRING_FORMATS.has(s.format as string)) throw refuse("format", path, `${JSON.stringify(s.format)} (supported: date-time, time, date)`);
  } else if (kind === "object") {
    checkCounts(s, path, "minProperties", "maxProperties");
    if (s.required !== undefined && (!Array.isArray(s.required) || !s.required.every((r) => typeof r === "string"))) throw refuse("required", path, "must be a list of property names");
    if (s.properties !== undefined) {
      if (!isObject(s.properties)) throw refuse("properties", path, "must be an object");
      s.properties = mapValues(s.properties, (v, k) => sub(v, `${path}/properties/${k}`));
    }
    if (isObject(s.additionalProperties)) s.additionalProperties = sub(s.additionalProperties, `${path}/additionalProperties`);
    else if (s.additionalProperties !== undefined && typeof s.additionalProperties !== "boolean") throw refuse("additionalProperties", path);
  } else if (kind === "array") {
    checkCounts(s, path, "minItems", "maxItems");
    if (s.items !== undefined) s.items = sub(s.items, `${path}/items`);
    if (s.prefixItems !== undefined) {
      if (!Array.isArray(s.prefixItems)) throw refuse("prefixItems", path, "must be a list");
      s.prefixItems = s.prefixItems.map((v, i) => sub(v, `${path}/prefixItems/${i}`));
    }
  }
}

function mapValues(o: Json, f: (v: unknown, k: string) => unknown): Json {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v, k)]));
}

/** A bound pair (minLength/maxLength, ...): whole numbers, the least no more than the most (else nothing matches). */
function checkCounts(s: Json, path: string, least: string, most: string): void {
  for (const key of [least, most]) {
    const v = s[key];
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0)) throw refuse(key, path, `${JSON.stringify(v)} (must be a whole number, 0 or more)`);
  }
  if (typeof s[least] === "number" && typeof s[most] === "number" && (s[least] as number) > (s[most] as number)) {
    throw refuse(least, path, `${s[least]} is more than ${most} ${s[most]}: nothing can match`);
  }
}

/**
 * Refuses a definition that leads back to itself through $ref and oneOf alone, before any JSON is
 * written ({"a": {"$ref": "#/$defs/a"}}): its grammar would be left-recursive, which llama.cpp
 * refuses with nothing but a log line. A definition reached again inside an object or an array
 * (a tree) is fine. Definitions are matched by name across scopes, which can only refuse more.
 */
function refuseEmptyLoops(root: Json): void {
  const defs = new Map<string, Json[]>();
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(collect);
    if (!isObject(v)) return;
    if (isObject(v.$defs)) for (const [name, d] of Object.entries(v.$defs)) defs.set(name, [...(defs.get(name) ?? []), d as Json]);
    Object.values(v).forEach(collect);
  };
  collect(root);
  /** Definitions a schema may start with, before writing anything. */
  const first = (s: Json): string[] =>
    typeof s.$ref === "string" ? [s.$ref.slice("#/$defs/".length)] : Array.isArray(s.oneOf) ? (s.oneOf as Json[]).flatMap(first) : [];
  for (const name of defs.keys()) {
    const seen = new Set<string>();
    const todo = defs.get(name)!.flatMap(first);
    while (todo.length > 0) {
      const next = todo.pop()!;
      if (next === name) throw refuse("$ref", `#/$defs/${name}`, "leads back to this definition before any JSON is written: an endless loop");
      if (seen.has(next)) continue;
      seen.add(next);
      todo.push(...(defs.get(next) ?? []).flatMap(first));
    }
  }
}
