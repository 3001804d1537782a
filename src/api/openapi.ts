// GET /openapi/json: the API described from the same TypeBox schemas that validate requests.
// No UI route: @elysiajs/openapi's pages load their scripts from a CDN, which an offline or
// locked-down server cannot reach, and the JSON is what client generators and tools consume.
import { openapi } from "@elysiajs/openapi";
import pkg from "../../package.json" with { type: "json" };

const OPENAPI_JSON_PATH = "/openapi/json";

export function openApiSpec() {
  return openapi({
    path: "/openapi",
    specPath: OPENAPI_JSON_PATH,
    provider: null,
    exclude: { paths: [OPENAPI_JSON_PATH] },
    documentation: {
      info: {
        title: "Warren",
        version: pkg.version,
        description: "LLM inference server: OpenAI-compatible /v1 routes, llama-server-style /tokenize and /detokenize, native /generate, /metrics",
      },
      tags: [
        { name: "openai", description: "OpenAI-compatible API" },
        { name: "anthropic", description: "Anthropic Messages API" },
        { name: "tokens", description: "Tokenizer access" },
        { name: "operations", description: "Health and metrics" },
      ],
      components: {
        securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "Needed on every route but /health when the server runs with --api-key" } },
      },
      security: [{ apiKey: [] }],
    },
  });
}
