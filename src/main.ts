#!/usr/bin/env bun
// CLI entry and the one place modules are wired together.
//   warren serve [flags]      HTTP server (default command)
//   warren model ...          generate / inspect GGUF models
//   warren bench ...          load-test a generation server (src/loadtest/)
import { availableParallelism } from "node:os";
import pkg from "../package.json" with { type: "json" };
import { createApp, requestIdOf } from "./api/app.ts";
import type { ServiceState } from "./api/state.ts";
import { ConfigError, DEFAULT_MODEL_PATH, apiKeysFrom, chatTemplateFrom, configHelp, corsOriginsFrom, loadConfig, slotContextSize, type Config } from "./config.ts";
import { type HttpServer, listen } from "./http/server.ts";
import type { LlamaEngine } from "./inference/llama/engine.ts";
import { createEmbedder } from "./inference/embedding-service.ts";
import { checkModelFile } from "./inference/model-check.ts";
import { Scheduler } from "./inference/scheduler.ts";
import { threadCandidates, tuneThreads, type TunableEngine } from "./inference/threads.ts";
import { createLogger, resolveFormat, type Logger } from "./log.ts";
import { startMemoryUpkeep } from "./memory.ts";

const USAGE = `Warren ${pkg.version}: LLM inference server for GGUF models

Usage:
  warren [serve] [flags]     serve a model over HTTP (default)
  warren model --help        generate or inspect GGUF models
  warren bench --help        load-test a generation server
  warren --version

Serve flags (each also read from the environment variable in brackets):
`;

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v") {
    console.log(`warren ${pkg.version}`);
    return 0;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(USAGE + configHelp());
    return 0;
  }
  if (first === "model") return (await import("./models/cli.ts")).runModelCli(rest);
  if (first === "bench") return (await import("./loadtest/cli.ts")).runBenchCli(rest);
  const args = first === "serve" ? rest : argv;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE + configHelp());
    return 0;
  }
  let config: Config;
  /** llama-server flags accepted without effect, logged once the logger exists. */
  const notes: string[] = [];
  let apiKeys: string[];
  let template: ChatTemplateChoice;
  try {
    config = loadConfig(args, process.env, notes);
    apiKeys = apiKeysFrom(config);
    template = chatTemplateFrom(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`warren: invalid settings:\n${err.message.replace(/^/gm, "  ")}\nRun 'warren --help' for the flags.`);
    return 2;
  }
  return serve(config, apiKeys, template, notes);
}

type ChatTemplateChoice = ReturnType<typeof chatTemplateFrom>;

async function serve(config: Config, apiKeys: string[], template: ChatTemplateChoice, notes: string[]): Promise<number> {
  const format = resolveFormat(config.logFormat);
  const log = createLogger(config.logLevel, undefined, format);
  for (const note of notes) log.warn(note);
  const state: ServiceState = { phase: "loading" };
  const tokensByRequest = new WeakMap<Request, { prompt: number; completion: number }>();
  const app = createApp({
    state,
    log,
    noteTokens: (req, t) => tokensByRequest.set(req, t),
    apiKeys,
    corsOrigins: corsOriginsFrom(config),
    connections: () => server.stats().openConnections,
    maxBodyBytes: config.maxBodyBytes,
    llamaServer: { slots: config.slots === "on", props: config.props === "on" },
  });
  if (apiKeys.length > 0) log.info(`API keys: ${apiKeys.length} (every route but /health needs one)`);
  // app.fetch is what app.handle wraps in an async function: it answers synchronously where the
  // route does, which spares a promise per request (the server takes either; a throw becomes a 500
  // as a rejection would). While draining, the server itself makes every answer close its connection.
  const server = listen(app.fetch, {
    hostname: config.host,
    port: config.port,
    maxBodyBytes: config.maxBodyBytes,
    maxConnections: config.maxConnections,
    headerTimeoutMs: config.headerTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    writeTimeoutMs: config.writeTimeoutMs,
    onRequestDone:
      config.accessLog === "off"
        ? undefined
        : (info) => {
            const request = info.request;
            const t = request ? tokensByRequest.get(request) : undefined;
            log.access({
              method: info.method,
              path: info.target,
              status: info.status,
              ms: info.durationMs,
              promptTokens: t?.prompt,
              tokens: t?.completion,
              remote: info.remote,
              requestId: request ? requestIdOf(request) : undefined,
            });
          },
  });
  startMemoryUpkeep(config.gcIntervalMs, () => server.stats().totalRequests, log);
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  log.info(`listening on ${url} (model loading; /health answers 503 until ready)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn(`second ${signal}: exiting now`);
      // The line is written first, but a stuck stderr does not hold the exit.
      void Promise.race([log.close(), Bun.sleep(200)]).then(() => process.exit(1));
      return;
    }
    stopping = true;
    state.phase = "draining";
    log.info(`${signal}: draining (up to ${config.shutdownTimeoutMs} ms for in-flight requests)`);
    await drain(server, state, config, log);
    log.info("stopped");
    await log.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  try {
    const slotContext = await prepareModel(config, log);
    // Loaded lazily: --help, model and bench never need node-llama-cpp (nor its unpacking in the compiled binary).
    const { LlamaEngine } = await import("./inference/llama/engine.ts");
    const cores = availableParallelism();
    const candidates = config.threads === "auto" ? threadCandidates(cores) : [config.threads];
    const engine = await LlamaEngine.load({
      modelPath: config.model,
      slots: config.parallel,
      slotContextSize: slotContext,
      threads: Math.max(...candidates),
      batchSize: Math.max(config.batchSize, config.parallel),
      flashAttention: config.flashAttention,
      chatTemplate: template.jinja,
      chatWrapper: template.wrapper,
    });
    if (config.threads === "auto") await autoThreads(engine, candidates, log);
    if (slotContext > engine.info.trainContextSize) {
      log.warn(`${slotContext} tokens of context per slot exceed the ${engine.info.trainContextSize} the model was trained with; output past that degrades`);
    }
    state.scheduler = new Scheduler({ engine, maxQueue: config.maxQueue });
    // Nothing is loaded until the first embeddings or rerank request. An input must fit one batch
    // (llama.cpp pools one micro-batch), as with llama-server's --ubatch-size.
    const embedding = { modelPath: config.model, threads: engine.threads, maxInputTokens: Math.min(config.batchSize, slotContext) };
    state.embedder = createEmbedder(async () => {
      const started = performance.now();
      const backend = await (await import("./inference/llama/embedding.ts")).loadLlamaEmbedding(embedding);
      const i = backend.info;
      log.info(`embedding context ready: ${i.reranker ? "reranker" : `${i.dimensions} dimensions, ${i.pooling} pooling`}, inputs up to ${i.maxInputTokens} tokens`, {
        ms: Math.round(performance.now() - started),
      });
      return backend;
    });
    state.modelName = config.alias || engine.info.name;
    if (!stopping) state.phase = "ready";
    banner(log, config, engine, url);
  } catch (err) {
    log.error(`cannot load model ${config.model}: ${err instanceof Error ? err.message : String(err)}`);
    await server.stop({ graceful: false });
    await log.close();
    return 1;
  }
  return new Promise<number>(() => {});
}

/** --threads auto: measured on the loaded model (inference/threads.ts); the rates go to the log. */
async function autoThreads(engine: TunableEngine, candidates: number[], log: Logger): Promise<void> {
  const r = await tuneThreads(engine, candidates);
  const rates = r.rates.map((x) => `${x.threads}: ${Math.round(x.single)} tok/s alone, ${Math.round(x.batch)} with ${engine.slots} slots`).join("; ");
  log.info(`threads auto: ${r.threads} (measured in ${Math.round(r.ms)} ms; threads ${rates})`);
}

/**
 * Generates the default smoke-test model on first run; checks a given file before llama.cpp sees it.
 * Returns each slot's context size (--ctx-size 0 takes the model's training context from its header).
 */
async function prepareModel(config: Config, log: Logger): Promise<number> {
  if (config.model === DEFAULT_MODEL_PATH) {
    const { ensureModel } = await import("./models/presets.ts");
    const { created } = await ensureModel(DEFAULT_MODEL_PATH, "tiny");
    log.warn(
      `serving ${DEFAULT_MODEL_PATH}${created ? " (generated now)" : ""}: a tiny RANDOM-WEIGHT smoke-test model that writes gibberish. ` +
        `Serve a real model with --model /path/to/model.gguf`,
    );
  }
  const { tensorDataProblem } = await import("./models/gguf-format.ts");
  const trainContext = config.ctxSize === 0 ? await trainContextOf(config.model) : undefined;
  const slotContext = slotContextSize(config, trainContext ?? config.ctxPerSlot * config.parallel);
  await checkModelFile(config.model, { slots: config.parallel, slotContextSize: slotContext, share: config.memoryShare / 100 }, tensorDataProblem);
  return slotContext;
}

/** The model's training context (GGUF `<arch>.context_length`); undefined when the header cannot say (the file check then reports why). */
async function trainContextOf(path: string): Promise<number | undefined> {
  try {
    const { metadata } = await (await import("./inference/llama/gguf-header.ts")).readModelHeader(path);
    const n = metadata.get(`${String(metadata.get("general.architecture"))}.context_length`);
    return typeof n === "number" && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** How long the scheduler gets to drop requests cut at the shutdown timeout (they stop within a token). */
const SCHEDULER_STOP_MS = 2_000;

/**
 * Graceful stop. No new connections. When requests are in flight at the signal, open connections are
 * still answered for the keep-alive timeout (or until their clients close them): /health says
 * "draining" and new work is served, each answer closing its connection, so a client sending on an
 * idle connection gets an answer rather than a reset a proxy could not retry. With nothing in flight
 * everything closes at once. In-flight requests, streams included, get the shutdown timeout; then
 * their connections are cut, which cancels their generation.
 */
async function drain(server: HttpServer, state: ServiceState, config: Config, log: Logger): Promise<void> {
  const graceMs = Math.min(config.keepAliveTimeoutMs, config.shutdownTimeoutMs);
  await server.stop({ graceful: true, timeoutMs: config.shutdownTimeoutMs, idleGraceMs: graceMs });
  // Refuses what is still queued, waits for the one evaluation running (at most one batch), frees the context.
  await state.embedder?.close();
  const scheduler = state.scheduler;
  if (scheduler === undefined) return;
  const stopped = await Promise.race([scheduler.close().then(() => true), Bun.sleep(SCHEDULER_STOP_MS).then(() => false)]);
  // Disposing the context under a running decode would crash natively; exiting frees it anyway.
  if (stopped) await scheduler.engine.dispose().catch(() => {});
  else log.warn(`inference still running ${SCHEDULER_STOP_MS} ms after the connections closed; exiting without disposing the model`);
}

function banner(log: Logger, config: Config, engine: LlamaEngine, url: string): void {
  const i = engine.info;
  log.info(
    `ready: model ${i.name} (${i.architecture}, ${(i.parameters / 1e6).toFixed(2)}M params, ${(i.sizeBytes / 1048576).toFixed(1)} MiB) ` +
      `threads=${engine.threads}/${availableParallelism()} cores slots=${engine.slots} ctx/slot=${engine.slotContextSize} ` +
      `batch=${engine.batchSize} flash-attention=${engine.flashAttention} queue=${config.maxQueue} ` +
      `chat-template=${i.chat.template} (tools: ${i.chat.tools ? "yes" : "no"}, reasoning: ${i.chat.reasoning ? "yes" : "no"}) url=${url}`,
  );
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined && code !== 0) process.exit(code);
    },
    (err) => {
      console.error(`warren: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
