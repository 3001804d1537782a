// Every limit and timeout Warren enforces, in one place.
// Units are in the names; each comment names the threat the limit defends against.
// config.ts exposes the ones an operator may want to change; the rest are fixed.

// ---- HTTP engine ----

/** Request line + headers. Beyond it: 431. Threat: memory exhaustion by endless headers. */
export const HTTP_MAX_HEAD_BYTES = 16 * 1024;
/** Request-target alone. Beyond it: 414. Threat: oversized URLs used to probe/exhaust buffers. */
export const HTTP_MAX_TARGET_BYTES = 8 * 1024;
/** Header field lines per request. Beyond it: 431. Threat: hash-flooding / per-header overhead. */
export const HTTP_MAX_HEADER_COUNT = 100;
/** Default request body limit (configurable). Beyond it: 413, checked before reading. Threat: memory exhaustion. */
export const HTTP_MAX_BODY_BYTES = 1024 * 1024;
/** Chunk-size line incl. extensions. Threat: unbounded chunk-ext parsing. */
export const HTTP_MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** Trailer section after the last chunk. Threat: headers smuggled without a limit. */
export const HTTP_MAX_TRAILER_BYTES = 16 * 1024;

/** Time allowed from the first byte of a request head to its end. Then 408 and close. Threat: slowloris. */
export const HTTP_HEADER_TIMEOUT_MS = 10_000;
/** Time allowed between body bytes once the head is read. Then 408 and close. Threat: slow-body (R-U-Dead-Yet). */
export const HTTP_BODY_TIMEOUT_MS = 30_000;
/** Idle keep-alive connection with nothing in flight. Then closed quietly. Threat: idle connection hoarding. */
export const HTTP_KEEPALIVE_TIMEOUT_MS = 5_000;
/** A response that cannot make write progress for this long is abandoned and the socket closed. Threat: slow readers pinning work. */
export const HTTP_WRITE_TIMEOUT_MS = 60_000;
/** Queued outbound bytes per connection above which reading (and upstream streaming) pauses. Threat: a client that never reads. */
export const HTTP_HIGH_WATER_BYTES = 256 * 1024;
/** Pipelined requests parsed ahead of the one being answered. Threat: pipelining floods buffering responses. */
export const HTTP_MAX_PIPELINED_REQUESTS = 32;
/** On graceful stop, how long in-flight requests may finish before sockets are closed. */
export const HTTP_SHUTDOWN_TIMEOUT_MS = 30_000;
/** On graceful stop, a server that took a request this recently counts as still being sent work (see SocketServer.stop):
 *  its idle connections stay open until it has been this quiet. Threat: a proxy's POST racing the close of an idle
 *  keep-alive connection (lost: a proxy cannot retry it). Below one request a second that race is negligible. */
export const HTTP_STOP_RECENT_REQUEST_MS = 1_000;
/** After the last response of a closing connection, unread input is drained this long before the socket is torn down,
 *  so the peer reads our answer (e.g. a 400) rather than a reset. Threat: half-closed sockets held open by a peer. */
export const HTTP_LINGER_MS = 2_000;
/** Open connections (0 = unlimited); beyond it new sockets are closed at once. Threat: fd/memory exhaustion by connection floods. */
export const HTTP_MAX_CONNECTIONS = 0;
/** Coarsest period of the one sweep that enforces all timeouts (shorter timeouts sweep faster). Threat: none; cost bound for 10k idle sockets. */
export const HTTP_SWEEP_MAX_INTERVAL_MS = 500;
/** Most queued response bytes concatenated into one socket write. Threat: copying a huge body just to coalesce it with small ones. */
export const HTTP_COALESCE_MAX_BYTES = 64 * 1024;

// ---- Inference ----

/** Waiting requests admitted beyond the busy slots. Beyond it: 503 + Retry-After. Threat: unbounded queue growth under overload. */
export const INFERENCE_MAX_QUEUE = 64;
/**
 * Percent of available memory the KV cache + weights may take at start (--memory-share). llama.cpp
 * makes the whole KV cache resident at once; the rest is for the page cache, the JS heap, other
 * processes and the kernel. Threat: a plan that drives the host into the OOM killer, losing every
 * request in flight.
 */
export const INFERENCE_MEMORY_SHARE_PERCENT = 50;
/**
 * Models loaded at once by default (--models-max; llama-server's router uses the same default). Each
 * loaded model holds its weights, KV cache and decode threads. Threat: idle models hoarding memory
 * and cores that the model in use needs.
 */
export const INFERENCE_MODELS_MAX = 4;
/**
 * How long a request waits for room to load its model while every loaded model is busy (none can
 * be unloaded under a request). Then 503 + Retry-After. Threat: requests piling up behind models
 * that never go idle.
 */
export const INFERENCE_MODEL_ROOM_WAIT_MS = 30_000;
/** --models-dir is read again for an unknown model name or a listing at most this often. Threat: a flood of made-up names turned into a flood of folder scans. */
export const INFERENCE_MODELS_RESCAN_MS = 1_000;
/** Folder levels below --models-dir searched for GGUF files. Threat: a folder tree walked without end (symlink loops). */
export const INFERENCE_MODELS_DIR_DEPTH = 3;
/** Models one --models-dir may list. Beyond it the rest are skipped, with a warning. Threat: a huge folder scanned on every unknown name. */
export const INFERENCE_MODELS_DIR_MAX = 1000;
/** Upper bound for max_tokens on any request. Threat: one request holding a slot forever. */
export const INFERENCE_MAX_TOKENS_CAP = 32_768;
/** Default max_tokens when a request gives none (llama-server/OpenAI behave similarly). */
export const INFERENCE_DEFAULT_MAX_TOKENS = 128;
/** Prompt text length accepted before tokenizing (chars). Threat: tokenizer work on huge strings. */
export const INFERENCE_MAX_PROMPT_CHARS = 1_000_000;
/** Stop strings per request and their length. Threat: quadratic stop matching. */
export const INFERENCE_MAX_STOP_STRINGS = 16;
export const INFERENCE_MAX_STOP_CHARS = 256;
/**
 * Token events a stream may leave unread before its slot stops generating (resumes at half). Threat:
 * a client that reads nothing costing decode work and memory until the write timeout cancels it.
 */
export const INFERENCE_MAX_UNREAD_EVENTS = 64;
/**
 * Steps an engine's decode thread may run ahead of the scheduler reading them (see pipeline.ts).
 * Deeper rides out the JavaScript thread being busy for longer (requests arriving together, a
 * collection): on stories260K at 8 streams, 8 gave 7-11% more tokens/s than 3 (16 no more than 8),
 * but since the memory upkeep also collects the decode thread's heap, 8 against 2 is within noise
 * (per-round median 1.01x, inter-token p99 about the same; 4,000-request soak RSS growth 0.7-4.0%
 * at 8, 1.9-4.6% at 2). Depth costs tokens decoded past a stop string or a cancel, thrown away:
 * so 2.
 */
export const INFERENCE_MAX_STEPS_AHEAD = 2;
/** Seconds advised to clients in Retry-After when the queue is full. */
export const INFERENCE_RETRY_AFTER_S = 1;
/** Inputs in one embeddings request, and documents in one rerank request (OpenAI's limit). Threat: one request queueing unbounded work. */
export const EMBEDDING_MAX_INPUTS = 2048;
/**
 * Inputs and documents waiting for the embedding context, all requests together. Beyond it: 503 +
 * Retry-After. Threat: unbounded queue growth (and latency) under overload.
 */
export const EMBEDDING_MAX_QUEUED_INPUTS = 8192;

// ---- API ----

/** An SSE comment is sent when a stream has been silent this long (queued, long prompt). Threat: proxies dropping idle streams. */
export const API_SSE_KEEPALIVE_MS = 10_000;

// ---- Process ----

/**
 * While requests keep coming, a full garbage collection and malloc_trim at most this often (0 =
 * never; see memory.ts). Each run pauses the event loop, so not more often than this; without them
 * RSS keeps growing over a long soak (docs/benchmarks.md, "Memory over time", has the figures).
 * Threat: a long-running server's memory drifting up until the host or a cgroup limit kills it.
 */
export const PROCESS_GC_INTERVAL_MS = 5_000;

// ---- Model store (pulls) ----

/** A hub API call (model info, manifest) or a URL probe that takes longer fails. Threat: a pull hanging forever on a dead network. */
export const PULL_API_TIMEOUT_MS = 30_000;
/**
 * A download whose received bytes do not grow for this long is stopped (the partial file is kept
 * for a resume). node-llama-cpp's downloader retries a failed connection up to 150 times with
 * backoff, which is right for a blip and ~12 minutes of silence for a dead network.
 * Threat: `warren pull` or `warren serve --model hf:...` hanging with no word on a lost network.
 */
export const PULL_STALL_TIMEOUT_MS = 60_000;
/** Parallel connections per pull for split models' parts (node-llama-cpp's default). */
export const PULL_PARALLEL_FILES = 4;
