// Runs /completion and /infill requests and answers in llama-server's shapes: one result object
// (an array of them for several prompts or n_cmpl > 1), or SSE chunks `{content, tokens, stop: false}`
// per piece of text and one final `{stop: true, ...}` chunk per result. n_indent and t_max_predict_ms
// end a generation from here: the request is cancelled (within a token) and what came after the cut
// is dropped.
import type { Engine } from "../../inference/engine.ts";
import type { InferenceRequest, TokenEvent, TokenLogprobs } from "../../inference/types.ts";
import { ApiError } from "../errors.ts";
import type { ModelUse } from "../models.ts";
import { sseData, sseResponse } from "../sse.ts";
import type { ApiDeps } from "../state.ts";
import { llamaErrorBody } from "./errors.ts";
import { timingsJson } from "../timings.ts";
import { pickFields, probabilitiesJson, settingsJson, tokensText } from "./format.ts";
import type { AnswerOptions, LlamaCall } from "./request.ts";

type Done = Extract<TokenEvent, { type: "done" }>;

/** A piece of one result's text, as a stream chunk carries it. */
interface Piece {
  index: number;
  text: string;
  ids: number[];
  probs: TokenLogprobs[];
  generated: number;
  /** return_progress: the prompt is evaluated (llama-server reports this per prompt chunk; Warren once, when done). */
  progress?: { total: number; cache: number; processed: number; time_ms: number };
}

/** One request's run: its pieces, then its summary. */
class Run {
  content = "";
  ids: number[] = [];
  probs: TokenLogprobs[] = [];
  slot = -1;
  done?: Done;
  /** Set when n_indent or t_max_predict_ms ended it. */
  cut = false;
  private readonly stopper = new AbortController();
  private firstTokenAt = 0;
  /** n_indent: where to look for the next newline, and the start of the line being checked (-1: none). */
  private searchFrom = 0;
  private lineStart = -1;

  constructor(
    readonly index: number,
    readonly req: InferenceRequest,
    readonly options: AnswerOptions,
  ) {
    req.signal = req.signal ? AbortSignal.any([req.signal, this.stopper.signal]) : this.stopper.signal;
  }

  /** Pieces as they come; `events` is the scheduler's stream for `req`. */
  async *pieces(events: AsyncIterable<TokenEvent>): AsyncGenerator<Piece> {
    let started = { at: 0, cached: 0 };
    for await (const ev of events) {
      if (ev.type === "started") {
        this.slot = ev.slot;
        started = { at: performance.now(), cached: ev.cachedTokens };
      } else if (ev.type === "done") this.done = ev;
      else if (ev.type === "text" && !this.cut) {
        if (this.options.returnProgress && this.firstTokenAt === 0) {
          const total = this.req.promptTokens.length;
          const progress = { total, cache: started.cached, processed: total, time_ms: performance.now() - started.at };
          yield { index: this.index, text: "", ids: [], probs: [], generated: 0, progress };
        }
        const text = this.limit(ev.text);
        this.content += text;
        this.ids.push(...(ev.ids ?? []));
        this.probs.push(...(ev.logprobs ?? []));
        if (text.length > 0 || ev.ids?.length) yield { index: this.index, text, ids: ev.ids ?? [], probs: ev.logprobs ?? [], generated: ev.tokens };
      }
    }
  }

  /** The part of `text` that may go out under n_indent and t_max_predict_ms; past a cut, the request is stopped. */
  private limit(text: string): string {
    const now = performance.now();
    this.firstTokenAt ||= now;
    const keep = this.options.nIndent > 0 ? text.slice(0, this.indented(text)) : text;
    if (keep.length < text.length) this.stop();
    else if (this.options.maxPredictMs > 0 && keep.includes("\n") && now - this.firstTokenAt > this.options.maxPredictMs) this.stop();
    return keep;
  }

  /** Where n_indent cuts `text`: after the first newline, a line indented less than n_indent ends generation before its text (blank lines too, as in llama-server). */
  private indented(text: string): number {
    const all = this.content + text;
    for (;;) {
      if (this.lineStart < 0) {
        const nl = all.indexOf("\n", this.searchFrom);
        if (nl === -1) {
          this.searchFrom = all.length;
          return text.length;
        }
        this.lineStart = nl + 1;
      }
      const at = this.lineStart + /^[ \t]*/.exec(all.slice(this.lineStart))![0].length;
      if (at >= all.length) return text.length;
      if (at - this.lineStart < this.options.nIndent) return at - this.content.length;
      this.searchFrom = at;
      this.lineStart = -1;
    }
  }

  private stop(): void {
    this.cut = true;
    this.stopper.abort();
  }

  stopType(): string {
    const d = this.done!;
    if (this.cut || d.finishReason === "length") return "limit";
    if (d.finishReason === "stop") return d.stopString !== undefined ? "word" : "eos";
    return "none";
  }
}

function resultJson(model: ModelUse, run: Run, o: AnswerOptions, stream: boolean): Record<string, unknown> {
  const engine = model.engine;
  const d = run.done!;
  // llama-server's "truncated": generation ran into the end of the slot's context.
  const truncated = d.finishReason === "length" && d.usage.promptTokens + d.usage.completionTokens >= engine.slotContextSize;
  const result: Record<string, unknown> = {
    index: run.index,
    content: stream ? "" : run.content,
    tokens: !stream && o.returnTokens ? run.ids : [],
    id_slot: run.slot,
    stop: true,
    model: model.name,
    tokens_predicted: d.usage.completionTokens,
    tokens_evaluated: d.usage.promptTokens,
    generation_settings: settingsJson(run.req.sampling, o),
    prompt: tokensText(engine, run.req.promptTokens),
    has_new_line: run.content.includes("\n"),
    truncated,
    stop_type: run.stopType(),
    stopping_word: d.stopString ?? "",
    tokens_cached: Math.max(0, d.usage.promptTokens + d.usage.completionTokens - 1),
    timings: timingsJson(d.timings, d.usage),
  };
  if (!stream && o.nProbs > 0) result.completion_probabilities = probabilitiesJson(engine, run.probs, o.postSamplingProbs);
  return o.responseFields ? pickFields(result, o.responseFields) : result;
}

function chunkJson(engine: Engine, p: Piece, run: Run, o: AnswerOptions): Record<string, unknown> {
  const chunk: Record<string, unknown> = {
    index: p.index,
    content: p.text,
    tokens: p.ids,
    stop: false,
    id_slot: -1,
    tokens_predicted: p.generated,
    tokens_evaluated: run.req.promptTokens.length,
  };
  if (o.nProbs > 0) chunk.completion_probabilities = probabilitiesJson(engine, p.probs, o.postSamplingProbs);
  return chunk;
}

/** Submits every request to `model` (admission errors throw before anything is sent) and answers. */
export async function answerLlama(deps: ApiDeps, request: Request, model: ModelUse, call: LlamaCall): Promise<Response | object> {
  const o = call.options;
  const runs = call.requests.map((req, i) => new Run(i, req, o));
  const streams = submitAll(model, runs);
  const note = () => {
    const usage = runs.flatMap((r) => (r.done ? [r.done.usage] : []));
    deps.noteTokens?.(request, { prompt: usage.reduce((n, u) => n + u.promptTokens, 0), completion: usage.reduce((n, u) => n + u.completionTokens, 0) });
  };
  if (o.stream) {
    const ping = o.pingSeconds === undefined ? deps.sseKeepAliveMs : o.pingSeconds < 0 ? 2 ** 31 - 1 : Math.max(1, o.pingSeconds) * 1000;
    return sseResponse(frames(model, runs, streams, note), {}, ping);
  }
  // Whole answers: each run's pieces are only collected (into the run).
  await Promise.all(runs.map(async (run, i) => Array.fromAsync(run.pieces(streams[i]!))));
  note();
  const failed = runs.find((r) => r.done?.finishReason === "error");
  if (failed) throw new ApiError(500, "generation_failed", failed.done!.error ?? "generation failed");
  const results = runs.map((r) => resultJson(model, r, o, false));
  return results.length === 1 ? results[0]! : results;
}

function generationTimings(n: number, ms: number) {
  return { predicted_n: n, predicted_ms: ms, predicted_per_token_ms: n > 0 ? ms / n : 0, predicted_per_second: ms > 0 ? (1000 * n) / ms : 0 };
}

/** Submits all or none: if one is refused, the ones already admitted are cancelled. Each stream holds the model until it ends. */
function submitAll(model: ModelUse, runs: Run[]): Array<AsyncIterable<TokenEvent>> {
  const streams: Array<AsyncIterable<TokenEvent>> = [];
  try {
    for (const run of runs) streams.push(model.submit(run.req));
  } catch (err) {
    for (const s of streams) void s[Symbol.asyncIterator]().return?.();
    throw err;
  }
  return streams;
}

async function* frames(model: ModelUse, runs: Run[], streams: Array<AsyncIterable<TokenEvent>>, note: () => void): AsyncGenerator<string> {
  const engine = model.engine;
  const started = performance.now();
  const iterators = runs.map((run, i) => run.pieces(streams[i]!));
  try {
    for await (const { run, piece } of merge(runs, iterators)) {
      const opts = run.options;
      if (piece) {
        const chunk = chunkJson(engine, piece, run, opts);
        if (piece.progress) chunk.prompt_progress = piece.progress;
        // Warren knows the generation's clock here, not the prompt's: the predicted_* half of timings.
        else if (opts.timingsPerToken) chunk.timings = generationTimings(piece.generated, performance.now() - started);
        yield sseData(chunk);
      } else if (run.done!.finishReason === "error") {
        yield sseData(llamaErrorBody(new ApiError(500, "generation_failed", run.done!.error ?? "generation failed")));
      } else yield sseData(resultJson(model, run, opts, true));
    }
  } finally {
    for (const it of iterators) await it.return(undefined);
    note();
  }
}

/** Pieces of all runs as they come; each run's end as `{run}` without a piece. */
async function* merge(runs: Run[], iterators: Array<AsyncGenerator<Piece>>): AsyncGenerator<{ run: Run; piece?: Piece }> {
  const next = (i: number) => iterators[i]!.next().then((r) => ({ i, r }));
  const pending = new Map(iterators.map((_, i) => [i, next(i)]));
  while (pending.size > 0) {
    const { i, r } = await Promise.race(pending.values());
    if (r.done) {
      pending.delete(i);
      yield { run: runs[i]! };
    } else {
      pending.set(i, next(i));
      yield { run: runs[i]!, piece: r.value };
    }
  }
}
