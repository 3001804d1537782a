// One streamed chat completion: the answer grows through `onText` as chunks arrive. Aborting
// the signal closes the connection, which is how the server learns to stop and free the slot.
import { errorMessage, type Api } from "./api.ts";
import type { AnswerTimes } from "./chat-request.ts";
import { readSse } from "./sse.ts";

export interface StreamedAnswer {
  content: string;
  reasoning: string;
  /** The model that answered, as the server names it in its chunks. */
  model?: string;
  finishReason?: string;
  /** usage.completion_tokens when the server sent it, else the chunks that carried text. */
  tokens: number;
  times: AnswerTimes;
  error?: string;
  /** Cut short by the stop button. */
  stopped: boolean;
}

interface Chunk {
  model?: string;
  choices?: Array<{ delta?: { content?: string | null; reasoning_content?: string | null }; finish_reason?: string | null }>;
  usage?: { completion_tokens?: number } | null;
  error?: { message?: string };
}

/** `onText` gets each new piece of text and of reasoning as it arrives (either may be empty). */
export async function streamChat(api: Api, body: unknown, signal: AbortSignal, onText: (text: string, reasoning: string, a: StreamedAnswer) => void): Promise<StreamedAnswer> {
  const a: StreamedAnswer = { content: "", reasoning: "", tokens: 0, times: { sent: performance.now() }, stopped: false };
  let counted = 0;
  let usage: number | undefined;
  try {
    const res = await api.post("/v1/chat/completions", body, signal);
    if (!res.ok || !res.body) {
      a.error = await errorMessage(res);
      return a;
    }
    await readSse(res.body, (data) => {
      const c = JSON.parse(data) as Chunk;
      if (c.error) a.error = c.error.message ?? "the server reported an error";
      a.model = c.model ?? a.model;
      if (typeof c.usage?.completion_tokens === "number") usage = c.usage.completion_tokens;
      const choice = c.choices?.[0];
      const text = choice?.delta?.content ?? "";
      const thought = choice?.delta?.reasoning_content ?? "";
      if (choice?.finish_reason) a.finishReason = choice.finish_reason;
      if (text === "" && thought === "") return;
      const now = performance.now();
      a.times.first ??= now;
      a.times.last = now;
      a.content += text;
      a.reasoning += thought;
      counted++;
      a.tokens = usage ?? counted;
      onText(text, thought, a);
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") a.stopped = true;
    else a.error = (err as Error).message;
  }
  a.tokens = usage ?? counted;
  return a;
}
