// What the API needs from the running service. main.ts owns it and flips `phase`.
import type { Scheduler } from "../inference/scheduler.ts";
import type { Logger } from "../log.ts";

export type Phase = "loading" | "ready" | "draining";

export interface ServiceState {
  phase: Phase;
  /** Set once the model is loaded. */
  scheduler?: Scheduler;
  /** Model name shown by the API. */
  modelName?: string;
}

export interface ApiDeps {
  state: ServiceState;
  log: Logger;
  /** Accounting hook: the generated/prompt tokens of a request, reported once it ends (for the access log). */
  noteTokens?: (req: Request, tokens: { prompt: number; completion: number }) => void;
}
