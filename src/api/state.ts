// What the API needs from the running service. main.ts owns it and flips `phase`.
import type { Embedder } from "../inference/embedding.ts";
import type { ModelRegistry } from "../inference/registry.ts";
import type { Scheduler } from "../inference/scheduler.ts";
import type { Logger } from "../log.ts";

type Phase = "loading" | "ready" | "draining";

export interface ServiceState {
  phase: Phase;
  /** Set once the model is loaded. */
  scheduler?: Scheduler;
  /** Model name shown by the API. */
  modelName?: string;
  /** Embeddings and reranking on the same model file (its context is made on first use). */
  embedder?: Embedder;
  /**
   * The models main.ts serves: routes pick one by the request's `model` (api/models.ts withModel).
   * Without it (a service built around one scheduler, as in tests) the fields above are the model.
   * With it they follow the catalogue's first model while it is loaded, for routes not yet routed by name.
   */
  models?: ModelRegistry;
}

/** One file of the web console, as the bundler made it (src/web). */
export interface ConsoleFile {
  /** URL path: "/" for the page, "/console/..." for its script and style sheet. */
  path: string;
  /** Content-Type, charset included. */
  type: string;
  text: string;
}

export interface ApiDeps {
  state: ServiceState;
  log: Logger;
  /** Accounting hook: the generated/prompt tokens of a request, reported once it ends (for the access log). */
  noteTokens?: (req: Request, tokens: { prompt: number; completion: number }) => void;
  /** API keys (none: no auth). Every route but /health then needs one. */
  apiKeys?: readonly string[];
  /** Origins allowed to call from browsers ("*" = any; none by default). */
  corsOrigins?: readonly string[];
  /** Open client connections right now (the HTTP server's count), for /metrics. */
  connections?: () => number;
  /** Request bodies above this (by Content-Length) are refused with 413 before they are parsed. */
  maxBodyBytes?: number;
  /** Silence after which an SSE stream gets a keep-alive comment (default API_SSE_KEEPALIVE_MS). */
  sseKeepAliveMs?: number;
  /** The web console's files, asked for on its first request (none: no console, / is a 404). */
  webConsole?: () => Promise<readonly ConsoleFile[]>;
  /** llama-server's endpoint switches: GET /slots (default on) and POST /props (default off). */
  llamaServer?: { slots?: boolean; props?: boolean };
}
