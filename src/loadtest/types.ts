// Plain data shared by the load tool's modules.

export type ApiKind = "native" | "openai";

export interface LoadOptions {
  readonly url: string;
  readonly api: ApiKind;
  /** openai only: /v1/chat/completions with one user message instead of /v1/completions. */
  readonly chat: boolean;
  readonly requests: number;
  /** Closed loop: this many requests in flight. With `rate` set it is a cap (null = no cap). */
  readonly concurrency: number | null;
  /** Open loop: Poisson arrivals at this many requests per second. */
  readonly rate: number | null;
  readonly maxTokens: number;
  readonly prompts: readonly string[];
  /** Where the prompts came from, for the report: "--prompt", a file name or a preset. */
  readonly promptSource: string;
  readonly stream: boolean;
  readonly ignoreEos: boolean;
  readonly timeoutS: number;
  readonly warmup: number;
  readonly apiKey: string | null;
  /** Connection: close on every request. */
  readonly freshConnections: boolean;
  readonly seed: number;
  readonly model: string;
  readonly temperature: number;
  readonly jsonPath: string | null;
  readonly progress: boolean;
  readonly preset: string | null;
}

/**
 * Why a request failed. `reason` is short and stable so failures group well in the report;
 * `message` is one example of what the server or the network said.
 */
type FailureKind = "connect" | "http" | "timeout" | "malformed" | "server_error" | "connection_lost" | "other";

export interface Failure {
  readonly kind: FailureKind;
  readonly reason: string;
  readonly message: string;
}

export class RequestFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export function fail(kind: FailureKind, reason: string, message = reason): never {
  throw new RequestFailure({ kind, reason, message });
}

/** What the server said about a finished generation; null where it said nothing. */
export interface Usage {
  readonly tokens: number | null;
  readonly promptTokens: number | null;
  readonly finishReason: string | null;
}

export interface RequestRecord {
  readonly index: number;
  /** Send time relative to the start of the measured run. */
  readonly startMs: number;
  readonly e2eMs: number;
  /** First content-bearing stream chunk; null when not streamed. */
  readonly ttftMs: number | null;
  /** Arrival times of content chunks relative to the send time (inter-token gaps come from these). */
  readonly chunkTimesMs: readonly number[];
  readonly status: number | null;
  readonly usage: Usage | null;
  readonly failure: Failure | null;
}

export function failureLabel(f: Failure): string {
  switch (f.kind) {
    case "connect":
      return `connect error (${f.reason})`;
    case "http":
      return f.reason;
    case "timeout":
      return `timeout (${f.reason})`;
    case "malformed":
      return `malformed response (${f.reason})`;
    case "server_error":
      return `server error event (${f.reason})`;
    case "connection_lost":
      return `connection lost (${f.reason})`;
    default:
      return `other (${f.reason})`;
  }
}
