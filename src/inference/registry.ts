// Many models in one server. Each catalogue model is loaded on its first request into an engine and
// scheduler of its own (one model's load or queue never holds up another's tokens), the loaded ones
// stay within a memory budget and a count, and a model is unloaded when idle or to make room.
//
// A model is never unloaded under a request. A request holds its model from the moment it asks for
// it (waiting while it loads) until its answer is done: the lease, then each token stream it
// submitted. Only a model nobody holds is unloaded: the least recently used first when a load needs
// room, after its keep-alive when idle, or when asked to. Each choice is made and marked in one
// synchronous step, so a request cannot take a model between the choice and its unloading.
//
// States:
//   unloaded --request--> loading --ok--> loaded --room / idle / asked--> unloading --> unloaded
//                            └--error--> failed (kept with its reason; the next request tries again)
import type { Catalogue, ModelSpec } from "./catalogue.ts";
import type { Embedder } from "./embedding.ts";
import { gib } from "./model-check.ts";
import { heldStream, loadFailed, newEntry, viewOf, type Entry, type LoadedModel, type ModelStatus, type ModelView } from "./model-entry.ts";
import { addTotals, emptyTotals, type SchedulerTotals, type UnloadReason } from "./registry-stats.ts";
import { noRoomMessage, roomFor, tooBigMessage } from "./room.ts";
import type { Scheduler } from "./scheduler.ts";
import { InferenceError, type InferenceRequest, type TokenEvent } from "./types.ts";
import { INFERENCE_MODEL_ROOM_WAIT_MS, INFERENCE_MODELS_RESCAN_MS } from "../limits.ts";

export type { ModelStatus, ModelView } from "./model-entry.ts";

interface RegistryOptions {
  catalogue: Pick<Catalogue, "list" | "find" | "rescan" | "single">;
  /** Bytes the model takes loaded (weights + KV cache). Throws, in one sentence, when its file is unusable. */
  plan(spec: ModelSpec): Promise<number>;
  load(spec: ModelSpec): Promise<LoadedModel>;
  /** What loaded models may take together, and how that was reckoned (for messages). */
  budget: { bytes: number; text: string };
  /** Models loaded at once; 0 = no limit. */
  maxLoaded: number;
  roomWaitMs?: number;
  /**
   * Checked once room is made, just before loading: why the host cannot take `bytes` more now
   * (other processes may have taken memory since the budget was set), or undefined.
   */
  hostProblem?(bytes: number): string | undefined;
  now?: () => number;
  /** Each change of a model's state (for the log and for main.ts's single-model fields). */
  onChange?(name: string, status: ModelStatus, detail: { ms?: number; error?: string; reason?: UnloadReason }): void;
}

/** A request's hold on a loaded model. */
interface ModelLease {
  readonly name: string;
  readonly scheduler: Scheduler;
  readonly embedder?: Embedder;
  /** Submits to the model's scheduler; the stream holds the model until it ends or is left. */
  submit(req: InferenceRequest): AsyncIterable<TokenEvent>;
  /** Ends this hold (streams submitted through the lease keep their own). Safe to call twice. */
  release(): void;
}

type SchedulerObserver = Parameters<Scheduler["setObserver"]>[0];

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private roomWaiters: Array<() => void> = [];
  private observer?: SchedulerObserver;
  private closed = false;
  private lastRescan = -Infinity;

  constructor(private readonly opts: RegistryOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** One model, no folder: every name means it. */
  get single(): boolean {
    return this.opts.catalogue.single;
  }

  /** Bytes every loaded model together may take. */
  get budgetBytes(): number {
    return this.opts.budget.bytes;
  }

  /**
   * Every catalogue model, and any still loaded after leaving it. `rescan`: read the folder again
   * first (at most once per INFERENCE_MODELS_RESCAN_MS).
   */
  list(rescan = true): ModelView[] {
    if (rescan) this.rescan(false);
    const specs = this.opts.catalogue.list();
    const gone = [...this.entries.values()].filter((e) => e.status !== "unloaded" && !specs.some((s) => s.name === e.spec.name));
    return [...specs.map((s) => this.entry(s)), ...gone].map((e) => viewOf(e));
  }

  /** One model by name (any name for a single-model server); throws model_not_found. */
  find(name: string | undefined): ModelView {
    return viewOf(this.entryFor(name));
  }

  /** Names the histograms of every scheduler, now and later, feed. */
  setObserver(observer: SchedulerObserver): void {
    this.observer = observer;
    for (const e of this.entries.values()) e.loaded?.scheduler.setObserver(observer);
  }

  /** A full collection on every loaded model's own threads (Engine.collectGarbage; the memory upkeep's): the milliseconds each took. */
  collectGarbage(): Promise<number[]> {
    return Promise.all([...this.entries.values()].flatMap((e) => e.loaded?.scheduler.engine.collectGarbage?.() ?? []));
  }

  /** Every scheduler's counters together, unloaded models' included: the server's totals. */
  totals(): SchedulerTotals {
    const sum = emptyTotals();
    for (const e of this.entries.values()) addTotals(addTotals(sum, e.totals.scheduler), e.loaded?.scheduler.stats());
    return sum;
  }

  /**
   * Holds the model named (the catalogue's first when no name is given), loading it first if need
   * be: the request waits in the model's own queue meanwhile. `keepAliveMs` replaces the model's
   * keep-alive from now on (Ollama's keep_alive). `signal` aborting while the model loads ends the
   * wait: the request gives up its hold and its place in the loading queue at once (a client that
   * left must not keep others out), and the load goes on for whoever asks next. Throws
   * InferenceError: model_not_found, model_load_failed, model_over_budget, queue_full,
   * shutting_down, invalid_request (aborted).
   */
  async acquire(name: string | undefined, keepAliveMs?: number, signal?: AbortSignal): Promise<ModelLease> {
    if (this.closed) throw new InferenceError("shutting_down", "the server is shutting down");
    const e = this.entryFor(name);
    if (keepAliveMs !== undefined) e.keepAliveMs = keepAliveMs;
    const ready = e.status === "loaded";
    const room = e.spec.settings.parallel + e.spec.settings.maxQueue;
    if (!ready && e.waiting >= room) {
      throw new InferenceError("queue_full", `model '${e.spec.name}' is loading and ${e.waiting} requests already wait for it (its slots + --max-queue)`);
    }
    this.hold(e);
    if (!ready) {
      e.waiting++;
      try {
        while (e.status !== "loaded") await unlessAborted(this.ensureLoaded(e), signal);
      } catch (err) {
        this.unhold(e);
        throw err;
      } finally {
        e.waiting--;
      }
    }
    return this.lease(e);
  }

  /** Loads the model if it is not (POST /models/load); resolves once it is loaded. */
  async load(name: string | undefined, keepAliveMs?: number): Promise<ModelView> {
    // Asked for by hand, likely just after copying the file in: the folder is read now.
    if (name && !this.opts.catalogue.find(name)) this.rescan(true);
    const lease = await this.acquire(name, keepAliveMs);
    lease.release();
    return this.find(name);
  }

  /** Unloads the model now (POST /models/unload); model_busy while a request holds it or it loads. */
  async unload(name: string | undefined): Promise<ModelView> {
    const e = this.entryFor(name);
    if (e.status === "loading" || e.holds > 0) {
      const why = e.status === "loading" ? "is loading" : `is in use (${e.holds} request${e.holds === 1 ? "" : "s"})`;
      throw new InferenceError("model_busy", `model '${e.spec.name}' ${why}: a model is never unloaded under a request; try again when it is idle`, "model");
    }
    if (e.status === "loaded") await this.evict(e, "request");
    else if (e.status === "unloading") await e.unloading;
    else if (e.status === "failed") this.setStatus(e, "unloaded");
    return viewOf(e);
  }

  /**
   * Refuses new requests and frees every model whose scheduler stops within `graceMs` (a decode
   * still running after it would crash natively if its context were freed). Returns the names of
   * those left running.
   */
  async close(graceMs: number): Promise<string[]> {
    this.closed = true;
    this.wakeRoomWaiters();
    const stuck: string[] = [];
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        clearTimeout(e.idleTimer);
        const loaded = e.loaded;
        if (!loaded) return;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stopped = await Promise.race([loaded.scheduler.close().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(r, graceMs, false)))]);
        clearTimeout(timer);
        if (stopped) await loaded.dispose().catch(() => {});
        else stuck.push(e.spec.name);
      }),
    );
    return stuck;
  }

  private rescan(force: boolean): void {
    const t = this.now();
    if (!force && t - this.lastRescan < INFERENCE_MODELS_RESCAN_MS) return;
    this.lastRescan = t;
    this.opts.catalogue.rescan();
  }

  private entryFor(name: string | undefined): Entry {
    const cat = this.opts.catalogue;
    if (cat.single || !name) {
      const first = cat.list()[0];
      if (first) return this.entry(first);
    }
    let spec = name ? cat.find(name) : undefined;
    if (!spec && name) {
      this.rescan(false);
      spec = cat.find(name);
    }
    if (!spec) {
      const known = this.entries.get(name ?? "");
      if (known && known.status !== "unloaded") return known;
      const names = cat.list().map((s) => s.name);
      const has = names.length === 0 ? "no models yet" : `these models: ${names.join(", ")}`;
      throw new InferenceError("model_not_found", `${name ? `the model '${name}' does not exist` : "no model was named"}; this server has ${has}`, "model");
    }
    return this.entry(spec);
  }

  /** The entry for a catalogue model, made on first sight; an idle one follows the catalogue's latest spec. */
  private entry(spec: ModelSpec): Entry {
    let e = this.entries.get(spec.name);
    if (!e) {
      e = newEntry(spec);
      this.entries.set(spec.name, e);
    } else if (e.status === "unloaded" || e.status === "failed") {
      if (e.spec.settings.keepAliveMs !== spec.settings.keepAliveMs) e.keepAliveMs = spec.settings.keepAliveMs;
      e.spec = spec;
    }
    return e;
  }

  private ensureLoaded(e: Entry): Promise<void> {
    if (e.status === "loaded") return Promise.resolve();
    if (e.status === "loading") return e.loading!;
    if (e.status === "unloading") return e.unloading!;
    return this.startLoad(e);
  }

  private startLoad(e: Entry): Promise<void> {
    this.setStatus(e, "loading");
    const started = this.now();
    e.loading = (async () => {
      try {
        const need = await this.opts.plan(e.spec).catch((err) => {
          throw loadFailed(e.spec.name, err);
        });
        await this.makeRoom(e, need);
        const host = this.opts.hostProblem?.(need);
        if (host) throw new InferenceError("model_over_budget", `cannot load model '${e.spec.name}' (${gib(need)}): ${host}`, "model");
        const loaded = await this.opts.load(e.spec).catch((err) => {
          throw loadFailed(e.spec.name, err);
        });
        if (this.closed) {
          await loaded.dispose().catch(() => {});
          throw new InferenceError("shutting_down", "the server is shutting down");
        }
        if (this.observer) loaded.scheduler.setObserver(this.observer);
        e.loaded = loaded;
        e.loadMs = this.now() - started;
        e.totals.loads++;
        e.totals.loadMs += e.loadMs;
        e.lastUsed = this.now();
        this.setStatus(e, "loaded", { ms: e.loadMs });
        this.armIdle(e);
      } catch (err) {
        const failure = err instanceof InferenceError ? err : loadFailed(e.spec.name, err);
        e.resident = false;
        e.bytes = 0;
        e.totals.failures++;
        e.error = failure.message;
        this.setStatus(e, "failed", { error: failure.message });
        this.wakeRoomWaiters();
        throw failure;
      } finally {
        e.loading = undefined;
      }
    })();
    return e.loading;
  }

  /** Reserves `need` bytes for `e`, unloading idle models (LRU first) or waiting for busy ones to go idle. */
  private async makeRoom(e: Entry, need: number): Promise<void> {
    const budget = this.opts.budget.bytes;
    if (need > budget) throw new InferenceError("model_over_budget", tooBigMessage(e.spec, need, this.opts.budget), "model");
    const deadline = this.now() + (this.opts.roomWaitMs ?? INFERENCE_MODEL_ROOM_WAIT_MS);
    for (;;) {
      if (this.closed) throw new InferenceError("shutting_down", "the server is shutting down");
      const resident = [...this.entries.values()].filter((x) => x.resident && x !== e).map((x) => ({ entry: x, bytes: x.bytes, idle: x.status === "loaded" && x.holds === 0, lastUsed: x.lastUsed }));
      const victims = roomFor(resident, need, { bytes: budget, maxLoaded: this.opts.maxLoaded });
      if (victims) {
        e.resident = true;
        e.bytes = need;
        await Promise.all(victims.map((v) => this.evict(v.entry, "room")));
        return;
      }
      const left = deadline - this.now();
      if (left <= 0) {
        const busy = resident.map((r) => ({ name: r.entry.spec.name, bytes: r.bytes, holds: r.entry.holds, status: r.entry.status }));
        throw new InferenceError("model_over_budget", noRoomMessage(e.spec.name, need, busy, this.opts.budget, this.opts.maxLoaded), "model");
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.roomWaiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  private wakeRoomWaiters(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  /** Unloads an idle loaded model; the state changes at once, the memory is freed when the promise resolves. */
  private evict(e: Entry, reason: UnloadReason): Promise<void> {
    const loaded = e.loaded!;
    clearTimeout(e.idleTimer);
    e.loaded = undefined;
    addTotals(e.totals.scheduler, loaded.scheduler.stats(), true);
    const embedded = loaded.embedder?.stats();
    e.totals.embedding.evaluated += embedded?.evaluated ?? 0;
    e.totals.embedding.tokens += embedded?.tokens ?? 0;
    e.totals.unloads[reason]++;
    this.setStatus(e, "unloading", { reason });
    e.unloading = (async () => {
      try {
        // Idle: nothing is queued or running, so this resolves at once and no decode can follow.
        await loaded.scheduler.close();
        await loaded.dispose().catch(() => {});
      } finally {
        e.resident = false;
        e.bytes = 0;
        e.unloading = undefined;
        this.setStatus(e, "unloaded", { reason });
        this.wakeRoomWaiters();
      }
    })();
    return e.unloading;
  }

  private hold(e: Entry): void {
    e.holds++;
    e.lastUsed = this.now();
    clearTimeout(e.idleTimer);
  }

  private unhold(e: Entry): void {
    e.holds--;
    e.lastUsed = this.now();
    if (e.holds > 0) return;
    this.wakeRoomWaiters();
    this.armIdle(e);
  }

  /** Starts the keep-alive clock of a loaded model nobody holds. */
  private armIdle(e: Entry): void {
    clearTimeout(e.idleTimer);
    if (e.status !== "loaded" || e.holds > 0 || e.keepAliveMs === Infinity || this.closed) return;
    e.idleTimer = setTimeout(() => {
      if (e.status === "loaded" && e.holds === 0 && !this.closed) void this.evict(e, "idle");
    }, e.keepAliveMs);
    e.idleTimer.unref?.();
  }

  private lease(e: Entry): ModelLease {
    const loaded = e.loaded!;
    let held = true;
    return {
      name: e.spec.name,
      scheduler: loaded.scheduler,
      embedder: loaded.embedder,
      submit: (req) => {
        const stream = loaded.scheduler.submit(req);
        this.hold(e);
        return heldStream(stream, () => this.unhold(e));
      },
      release: () => {
        if (!held) return;
        held = false;
        this.unhold(e);
      },
    };
  }

  private setStatus(e: Entry, status: ModelStatus, detail: { ms?: number; error?: string; reason?: UnloadReason } = {}): void {
    e.status = status;
    if (status !== "failed") e.error = undefined;
    this.opts.onChange?.(e.spec.name, status, detail);
  }

}

/** `work`, or an InferenceError as soon as `signal` aborts; work left behind may fail unobserved. */
function unlessAborted(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return work;
  const aborted = () => new InferenceError("invalid_request", "the request was aborted while its model loaded");
  if (signal.aborted) return Promise.reject(aborted());
  work.catch(() => {});
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
