// One llama-server equivalence case sent to a server, as bench/llama-reference.ts records them and
// test/api/llama-equivalence.test.ts replays them: the same request body for both servers, and the
// text and token ids read back from a streamed answer.

interface CompletionCase {
  readonly path: string;
  readonly body: Record<string, unknown>;
}

/** The request as both servers get it: the whole prompt evaluated every time, ids returned. */
export const completionBody = (c: CompletionCase, stream = false) => ({ ...c.body, cache_prompt: false, return_tokens: true, ...(stream ? { stream: true } : {}) });

/** Content and ids from the SSE chunks of a streamed /completion (content only for /v1/completions). */
export async function streamedCompletion(url: string, c: CompletionCase): Promise<{ content: string; tokens: number[] }> {
  const r = await fetch(url + c.path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(completionBody(c, true)) });
  let content = "";
  const tokens: number[] = [];
  for (const line of (await r.text()).split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const j = JSON.parse(line.slice(6));
    if (c.path === "/v1/completions") content += j.choices?.[0]?.text ?? "";
    else if (!j.stop) {
      content += j.content;
      tokens.push(...j.tokens);
    }
  }
  return { content, tokens };
}
