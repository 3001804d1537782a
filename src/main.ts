#!/usr/bin/env bun
// CLI entry and the one place modules are wired together.
//   warren serve [flags]      HTTP server (default command)
//   warren model ...          generate / inspect GGUF models
//   warren pull|models|rm     the local model store (src/models/store-cli.ts)
//   warren bench ...          load-test a generation server (src/loadtest/)
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { createApp } from "./api/app.ts";
import { requestIdOf } from "./api/front.ts";
import type { ServiceState } from "./api/state.ts";
import {
  ConfigError, DEFAULT_MODEL_PATH, apiKeysFrom, chatTemplateFrom, configHelp, confineToCpus, corsOriginsFrom, keepAliveIdleMs, loadConfig, modelsFrom, type Config,
} from "./config.ts";
import { formatCpuList, usableCpus } from "./cpu-affinity.ts";
import { formatKeepAlive } from "./duration.ts";
import { resolveCacheDir } from "./cache-dir.ts";
import { type HttpServer, listen } from "./http/server.ts";
import { Catalogue, CatalogueError, modelArgument, nameOfFile, withSlotContext, type ModelSettings, type ModelSpec } from "./inference/catalogue.ts";
import type { LlamaEngine } from "./inference/llama/engine.ts";
import { availableMemoryBytes, checkModelFile, gib, modelPlan } from "./inference/model-check.ts";
import { loadModel } from "./inference/model-load.ts";
import { ModelRegistry, type ModelStatus } from "./inference/registry.ts";
import { createLogger, resolveFormat, type Logger } from "./log.ts";
import { startMemoryUpkeep } from "./memory.ts";
import { readModelsFile } from "./models-file.ts";

const USAGE = `Warren ${pkg.version}: LLM inference server for GGUF models

Usage:
  warren [serve] [flags]     serve a model over HTTP (default)
  warren model --help        generate or inspect GGUF models
  warren pull URI            download a model into the model store (hf:USER/REPO:QUANT, hf:USER/REPO/FILE.gguf, https URL)
  warren models              list the models in the store
  warren rm NAME             delete a model from the store
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
  if (first === "pull" || first === "models" || first === "rm") {
    const { runStoreCli } = await import("./models/store-cli.ts");
    return runStoreCli(first, rest, { cacheDir: resolveCacheDir(undefined, process.env), env: process.env, handleSignals: true });
  }
  const args = first === "serve" ? rest : argv;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE + configHelp());
    return 0;
  }
  let config: Config;
  /** llama-server flags accepted without effect, logged once the logger exists. */
  const notes: string[] = [];
  let apiKeys: string[];
  let catalogue: Catalogue;
  let cpus: number[] | undefined;
  const invalid = (err: unknown): number => {
    if (!(err instanceof ConfigError) && !(err instanceof CatalogueError)) throw err;
    console.error(`warren: invalid settings:\n${err.message.replace(/^/gm, "  ")}\nRun 'warren --help' for the flags.`);
    return 2;
  };
  try {
    config = loadConfig(args, process.env, notes);
    apiKeys = apiKeysFrom(config);
    chatTemplateFrom(config);
    // Before anything loads: the threads made from here on inherit the set.
    cpus = confineToCpus(config);
  } catch (err) {
    return invalid(err);
  }
  const log = createLogger(config.logLevel, undefined, resolveFormat(config.logFormat));
  for (const note of notes) log.warn(note);
  if (cpus !== undefined) {
    log.info(`cpus: every thread confined to ${formatCpuList(cpus)}`);
    if (typeof config.threads === "number" && config.threads > cpus.length) log.warn(`--threads ${config.threads} on ${cpus.length} CPU(s) (--cpus): ggml's threads will wait on each other; --threads auto counts the CPUs given`);
  }
  const models = await modelFiles(config, log);
  if (models === undefined) {
    await log.close();
    return 1;
  }
  try {
    config = { ...config, model: models };
    catalogue = catalogueFrom(config);
  } catch (err) {
    await log.close();
    return invalid(err);
  }
  return serve(config, apiKeys, catalogue, log);
}

/**
 * Every --model as a file: model URIs are pulled into the store first (or found there), store
 * names looked up (models/sources.ts). undefined, after a one-line error, when one cannot be had.
 */
async function modelFiles(config: Config, log: Logger): Promise<string[] | undefined> {
  const out: string[] = [];
  for (const given of modelsFrom(config)) {
    const { name, path } = modelArgument(given);
    if (path === DEFAULT_MODEL_PATH || existsSync(path)) {
      out.push(given);
      continue;
    }
    try {
      const { resolveSource } = await import("./models/sources.ts");
      const file = await resolveSource(path, { ...config, env: process.env, info: (line) => log.info(line) });
      out.push(given.startsWith(`${name}=`) ? `${name}=${file}` : file);
    } catch (err) {
      log.error(`cannot load model ${given}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }
  return out;
}

/**
 * The serve flags' model settings: what every model loads with unless the models file says otherwise.
 * --ctx-size (all slots together) becomes ctxTotal, divided among each model's own slots by the catalogue.
 */
function settingsFrom(config: Config): ModelSettings {
  const { parallel, ctxPerSlot, ctxSize, batchSize, threads, flashAttention, engine, mmap, chatTemplate, maxQueue } = config;
  const settings: ModelSettings = { parallel, ctxSize: ctxPerSlot, batchSize, threads, flashAttention, engine, mmap, chatTemplate, maxQueue, keepAliveMs: keepAliveIdleMs(config) };
  if (ctxSize !== undefined) settings.ctxTotal = ctxSize;
  return settings;
}

/** The models to serve. The generated default model is served only when nothing else names one. */
function catalogueFrom(config: Config): Catalogue {
  const file = config.modelsFile ? readModelsFile(config.modelsFile) : undefined;
  const fileNamesOne = [...(file?.values() ?? [])].some((e) => e.path !== undefined);
  const flags = modelsFrom(config);
  const onlyDefault = flags.length === 1 && flags[0] === DEFAULT_MODEL_PATH && (config.modelsDir !== "" || fileNamesOne);
  return new Catalogue({ models: onlyDefault ? [] : flags, dir: config.modelsDir || undefined, file, defaults: settingsFrom(config) });
}

async function serve(config: Config, apiKeys: string[], catalogue: Catalogue, log: Logger): Promise<number> {
  const state: ServiceState = { phase: "loading" };
  const url = () => `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  state.models = createRegistry(config, catalogue, state, log, url);
  const tokensByRequest = new WeakMap<Request, { prompt: number; completion: number }>();
  const app = createApp({
    state,
    log,
    noteTokens: (req, t) => tokensByRequest.set(req, t),
    apiKeys,
    corsOrigins: corsOriginsFrom(config),
    connections: () => server.stats().openConnections,
    maxBodyBytes: config.maxBodyBytes,
    // Bundled on its first request (src/web/bundle.ts): a server nobody opens in a browser pays nothing.
    webConsole: config.webui ? async () => (await import("./web/bundle.ts")).bundleConsole() : undefined,
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
              atMs: info.endMs,
              promptTokens: t?.prompt,
              tokens: t?.completion,
              remote: info.remote,
              requestId: request ? requestIdOf(request) : undefined,
            });
          },
  });
  startMemoryUpkeep(config.gcIntervalMs, () => server.stats().totalRequests, log, () => state.models?.collectGarbage());
  const single = catalogue.single;
  log.info(`listening on ${url()} (${single ? "model loading; /health answers 503 until ready" : "each model loads on its first request"})`);

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
    const inFlight = server.stats().activeRequests;
    log.info(`${signal}: draining, ${inFlight} request${inFlight === 1 ? "" : "s"} in flight (up to ${config.shutdownTimeoutMs} ms for them to finish)`);
    await drain(server, state, config, log);
    log.info("stopped");
    await log.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  if (!single) {
    const names = catalogue.list().map((m) => m.name);
    log.info(`serving ${names.length} models, each loaded on its first request: ${names.join(", ") || "(none yet)"}`);
    if (config.webui) log.info(`web console: open ${url()}/ in a browser (--no-webui turns it off)`);
    state.phase = "ready";
    return new Promise<number>(() => {});
  }
  const spec = catalogue.list()[0]!;
  try {
    await prepareModel(spec, config.memoryShare, log);
    await state.models.load(undefined);
    if (!stopping) state.phase = "ready";
    if (config.webui) log.info(`web console: open ${url()}/ in a browser (--no-webui turns it off)`);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    // Named as the flag gave it (or by its path, when the models file gave it).
    const given = modelsFrom(config)[0]!;
    const label = resolve(modelArgument(given).path) === spec.path ? given : spec.path;
    log.error(`cannot load model ${label}: ${cause instanceof Error ? cause.message : String(cause)}`);
    await server.stop({ graceful: false });
    await log.close();
    return 1;
  }
  return new Promise<number>(() => {});
}

/**
 * The registry over the catalogue: models load through the llama engine within the memory budget
 * (--memory-share of what was available at start), and their state changes go to the log. The catalogue's
 * first model also fills the state's single-model fields while it is loaded.
 */
function createRegistry(config: Config, catalogue: Catalogue, state: ServiceState, log: Logger, url: () => string): ModelRegistry {
  const available = availableMemoryBytes();
  const budget = { bytes: available * (config.memoryShare / 100), text: `--memory-share ${config.memoryShare}% of the ${gib(available)} available at start` };
  const first = catalogue.list()[0];
  // --alias (llama-server's) names a single model; several are named by NAME=FILE or their files.
  const ownName = first && catalogue.single && modelArgument(modelsFrom(config)[0]!).name === nameOfFile(first.path);
  const shown = catalogue.single && config.alias ? config.alias : ownName ? undefined : first?.name;
  const engines = new Map<string, LlamaEngine>();
  const registry = new ModelRegistry({
    catalogue,
    budget,
    maxLoaded: config.modelsMax,
    // The budget was reckoned at start; if other processes have taken the memory since, llama.cpp
    // would be OOM-killed allocating the KV cache, so the load is refused instead.
    hostProblem: (bytes) => {
      const now = availableMemoryBytes();
      return bytes > now ? `the host has only ${gib(now)} of memory available now` : undefined;
    },
    async plan(spec) {
      const { tensorDataProblem } = await import("./models/gguf-format.ts");
      const s = (await slotSized(spec)).settings;
      const p = await modelPlan(spec.path, s.parallel * s.ctxSize, tensorDataProblem);
      return p.weightsBytes + (p.kvBytes ?? 0);
    },
    async load(spec) {
      const loaded = await loadModel(await slotSized(spec), {
        template: (s) => chatTemplateFrom({ chatTemplate: s.settings.chatTemplate }),
        info: (m, f) => log.info(m, f),
        warn: (m) => log.warn(m),
      });
      engines.set(spec.name, loaded.engine);
      return loaded;
    },
    onChange(name, status, detail) {
      const engine = engines.get(name);
      if (status === "loaded" && engine) {
        if (catalogue.single) banner(log, config, engine, url());
        else log.info(`model ${name} loaded in ${Math.round(detail.ms ?? 0)} ms: ${describe(engine)} keep-alive=${formatKeepAlive(registry.find(name).settings.keepAliveMs)}`);
      } else if (status === "failed" && state.phase !== "loading") log.warn(detail.error ?? `model ${name} failed to load`);
      else if (status === "unloaded") log.info(`model ${name} unloaded (${detail.reason === "room" ? "to make room for another" : detail.reason === "idle" ? "idle past its keep-alive" : "as asked"})`);
      if (status === "unloaded") engines.delete(name);
      if (name === first?.name) followFirst(state, registry, name, status, shown);
    },
  });
  if (!catalogue.single && config.alias) log.warn(`--alias ${config.alias}: has no effect with several models (name each with --model NAME=FILE)`);
  if (!catalogue.single) log.info(`memory budget for loaded models: ${gib(budget.bytes)} (${budget.text}); at most ${config.modelsMax || "any number of"} loaded at once`);
  return registry;
}

/** Keeps the single-model fields on the catalogue's first model (`shown`: its name as answers give it; undefined: the model's own). */
function followFirst(state: ServiceState, registry: ModelRegistry, name: string, status: ModelStatus, shown: string | undefined): void {
  if (status === "loaded") {
    const view = registry.find(name);
    state.scheduler = view.scheduler;
    state.embedder = view.embedder;
    state.modelName = shown ?? view.scheduler?.engine.info.name;
  } else if (status === "unloading") {
    state.scheduler = undefined;
    state.embedder = undefined;
  }
}

/** Generates the default smoke-test model on first run; checks a given file before llama.cpp sees it. */
async function prepareModel(spec: ModelSpec, memoryShare: number, log: Logger): Promise<void> {
  if (spec.path === resolve(DEFAULT_MODEL_PATH)) {
    const { ensureModel } = await import("./models/presets.ts");
    const { created } = await ensureModel(DEFAULT_MODEL_PATH, "tiny");
    log.warn(
      `serving ${DEFAULT_MODEL_PATH}${created ? " (generated now)" : ""}: a tiny RANDOM-WEIGHT smoke-test model that writes gibberish. ` +
        `Serve a real model with --model /path/to/model.gguf`,
    );
  }
  const { tensorDataProblem } = await import("./models/gguf-format.ts");
  const sized = await slotSized(spec);
  await checkModelFile(spec.path, { slots: sized.settings.parallel, slotContextSize: sized.settings.ctxSize, share: memoryShare / 100 }, tensorDataProblem);
}

/** `spec` with its context per slot known: ctx-size 0 (the training context) is read from the model's header. */
async function slotSized(spec: ModelSpec): Promise<ModelSpec> {
  if (spec.settings.ctxTotal !== 0) return spec;
  const train = await trainContextOf(spec.path);
  return train === undefined ? spec : { ...spec, settings: withSlotContext(spec.settings, train, spec.name) };
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
 * Graceful stop. No new connections. While work is in flight or still arriving, open connections are
 * still answered until the server has been quiet for a moment, for at most the keep-alive timeout (or
 * until their clients close them): /health says "draining" and new work is served, each answer
 * closing its connection, so a client sending on an idle connection gets an answer rather than a
 * reset a proxy could not retry. A server already quiet at the signal closes everything at once.
 * In-flight requests, streams included, get the shutdown timeout; then their connections are cut,
 * which cancels their generation.
 */
async function drain(server: HttpServer, state: ServiceState, config: Config, log: Logger): Promise<void> {
  const graceMs = Math.min(config.keepAliveTimeoutMs, config.shutdownTimeoutMs);
  await server.stop({ graceful: true, timeoutMs: config.shutdownTimeoutMs, idleGraceMs: graceMs });
  // Each model: refuses what is still queued, waits for what runs (at most SCHEDULER_STOP_MS), frees it.
  const stuck = (await state.models?.close(SCHEDULER_STOP_MS)) ?? [];
  // Disposing a context under a running decode would crash natively; exiting frees it anyway.
  if (stuck.length > 0) log.warn(`inference still running ${SCHEDULER_STOP_MS} ms after the connections closed (${stuck.join(", ")}); exiting without disposing the model`);
}

function banner(log: Logger, config: Config, engine: LlamaEngine, url: string): void {
  const i = engine.info;
  log.info(
    `ready: model ${i.name} (${i.architecture}, ${(i.parameters / 1e6).toFixed(2)}M params, ${(i.sizeBytes / 1048576).toFixed(1)} MiB) ` +
      `threads=${engine.threads}/${usableCpus()} cores slots=${engine.slots} ctx/slot=${engine.slotContextSize} ` +
      `batch=${engine.batchSize} flash-attention=${engine.flashAttention} engine=${engine.engineName} queue=${config.maxQueue} ` +
      `chat-template=${i.chat.template} (tools: ${i.chat.tools ? "yes" : "no"}, reasoning: ${i.chat.reasoning ? "yes" : "no"}) url=${url}`,
  );
}

/** One loaded model of several, for its log line. */
function describe(engine: LlamaEngine): string {
  const i = engine.info;
  return (
    `${i.architecture}, ${(i.parameters / 1e6).toFixed(2)}M params, ${(i.sizeBytes / 1048576).toFixed(1)} MiB, threads=${engine.threads} slots=${engine.slots} ` +
    `ctx/slot=${engine.slotContextSize} batch=${engine.batchSize} flash-attention=${engine.flashAttention} engine=${engine.engineName} chat-template=${i.chat.template}`
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
