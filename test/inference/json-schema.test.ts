// The JSON Schema subset check behind response_format (inference/json-schema.ts), as a table.
// node-llama-cpp itself never refuses a schema: it drops what it does not know, so each refused
// row here is a schema it would have "enforced" as something else.
import { describe, expect, test } from "bun:test";
import { GrammarError } from "../../src/inference/engine.ts";
import { checkJsonSchema } from "../../src/inference/json-schema.ts";

const refused: Array<[string, unknown, string]> = [
  ["pattern on a string", { type: "string", pattern: "^a" }, "pattern"],
  ["numeric bounds", { type: "number", maximum: 3 }, "maximum"],
  ["nested deep in properties", { type: "object", properties: { a: { type: "array", items: { type: "integer", multipleOf: 2 } } } }, "multipleOf"],
  ["allOf", { allOf: [{ type: "string" }] }, "allOf"],
  ["not", { not: { type: "string" } }, "not"],
  ["if/then", { type: "object", if: {}, then: {} }, "if"],
  ["patternProperties", { type: "object", patternProperties: { "^x": { type: "string" } } }, "patternProperties"],
  ["uniqueItems", { type: "array", uniqueItems: true }, "uniqueItems"],
  ["email format", { type: "string", format: "email" }, "format"],
  ["draft-07 definitions", { type: "object", definitions: {} }, "definitions"],
  ["$ref outside $defs", { $ref: "#/definitions/x" }, "$ref"],
  ["$ref to a missing def", { $defs: { a: { type: "string" } }, $ref: "#/$defs/b" }, "$ref"],
  ["object in a type list", { type: ["object", "null"] }, "type"],
  ["unknown type", { type: "date" }, "type"],
  ["object const", { const: { a: 1 } }, "const"],
  ["anyOf with oneOf", { anyOf: [{ type: "string" }], oneOf: [{ type: "string" }] }, "anyOf"],
  ["nullable (OpenAPI, not JSON Schema)", { type: "string", nullable: true }, "nullable"],
  ["no type at all", {}, "type"],
  ["an empty property schema", { type: "object", properties: { a: {} } }, "type"],
  ["a length that is not a whole number", { type: "string", maxLength: 2.5 }, "maxLength"],
  ["a length as text", { type: "string", minLength: "3" }, "minLength"],
  ["minItems above maxItems (nothing matches)", { type: "array", minItems: 2, maxItems: 1 }, "minItems"],
  ["a negative property count", { type: "object", maxProperties: -1 }, "maxProperties"],
  ["required that is not a list of names", { type: "object", required: [1] }, "required"],
  ["a $ref to itself", { $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" }, "$ref"],
  ["a $ref loop through anyOf", { $defs: { a: { anyOf: [{ type: "null" }, { $ref: "#/$defs/b" }] }, b: { oneOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" }, "$ref"],
];

const accepted: Array<[string, unknown]> = [
  ["object with annotations", { title: "T", description: "d", type: "object", properties: { a: { type: "string", maxLength: 5, default: "x" } }, required: ["a"], additionalProperties: false }],
  ["arrays", { type: "array", items: { type: "number" }, prefixItems: [{ const: 1 }], minItems: 1, maxItems: 3 }],
  ["scalar type lists", { type: ["string", "null"] }],
  ["enum and const", { oneOf: [{ enum: ["a", 1, null] }, { const: true }] }],
  ["$defs and $ref", { $defs: { p: { type: "object", properties: { n: { $ref: "#/$defs/p" } } } }, $ref: "#/$defs/p" }],
  ["date formats", { type: "string", format: "date-time" }],
  ["additionalProperties schema", { type: "object", additionalProperties: { type: "integer" } }],
  ["a $ref cycle through an array (a list of lists)", { $defs: { l: { type: "array", items: { anyOf: [{ type: "integer" }, { $ref: "#/$defs/l" }] } } }, $ref: "#/$defs/l" }],
  ["equal bounds", { type: "string", minLength: 2, maxLength: 2 }],
];

describe("checkJsonSchema", () => {
  for (const [name, schema, keyword] of refused) {
    test(`refuses ${name}, naming "${keyword}"`, () => {
      let err: unknown;
      try {
        checkJsonSchema(schema);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GrammarError);
      expect((err as GrammarError).keyword).toBe(keyword);
      expect((err as GrammarError).message).toContain(`"${keyword}"`);
    });
  }

  for (const [name, schema] of accepted) test(`accepts ${name}`, () => expect(() => checkJsonSchema(schema)).not.toThrow());

  test("anyOf becomes oneOf (Pydantic's Optional fields), nested too", () => {
    const out = checkJsonSchema({ type: "object", properties: { a: { anyOf: [{ type: "string" }, { type: "null" }] } } });
    expect(out).toEqual({ type: "object", properties: { a: { oneOf: [{ type: "string" }, { type: "null" }] } } });
  });

  test("the path to the offending keyword is in the message", () => {
    expect(() => checkJsonSchema({ type: "object", properties: { a: { type: "array", items: { type: "string", pattern: "x" } } } })).toThrow(
      "#/properties/a/items",
    );
  });

  test("very deep schemas are refused before they reach node-llama-cpp", () => {
    let deep: object = { type: "string" };
    for (let i = 0; i < 100; i++) deep = { type: "array", items: deep };
    expect(() => checkJsonSchema(deep)).toThrow(/deeper than/);
  });
});
