// `warren serve` started with a llama-server command line (the real CLI, real sockets): the same
// slots, context per slot, alias and switches as llama-server would have, and its API answering.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { requireStories, STORIES_ORACLE } from "../helpers/models.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

let w: WarrenProcess;
beforeAll(async () => {
  w = await startWarren(["-m", requireStories(), "-c", "512", "-np", "2", "-t", "1", "-a", "storyteller", "--props", "--no-webui", "-ngl", "99"]);
});
afterAll(async () => {
  await w?.stop("SIGKILL");
});

describe("warren serve with llama-server's flags", () => {
  test("-c is the whole context: 2 slots of 256; -a names the model; --props allows POST /props", async () => {
    const props = (await (await fetch(`${w.url}/props`)).json()) as any;
    expect(props).toMatchObject({ total_slots: 2, model_alias: "storyteller", endpoint_props: true });
    expect(props.default_generation_settings.n_ctx).toBe(256);
    expect(await (await fetch(`${w.url}/props`, { method: "POST", body: "{}" })).json()).toEqual({ success: true });
    const slots = (await (await fetch(`${w.url}/slots`)).json()) as Array<{ n_ctx: number }>;
    expect(slots.map((x) => x.n_ctx)).toEqual([256, 256]);
  });

  test("/completion answers with llama.cpp's greedy text under the alias", async () => {
    const r = (await (await fetch(`${w.url}/completion`, { method: "POST", body: JSON.stringify({ prompt: "Once upon a time", n_predict: 30, temperature: 0 }) })).json()) as any;
    expect(r.content).toBe(STORIES_ORACLE);
    expect(r.model).toBe("storyteller");
  });

  test("flags without effect here are named in the log, once each", () => {
    expect(w.log().split("-ngl: llama-server's flag is accepted and has no effect here").length).toBe(2);
  });

  test("--no-webui turns the web console off: / is a 404", async () => {
    expect((await fetch(`${w.url}/`)).status).toBe(404);
    expect(w.log()).not.toContain("web console: open");
  });
});
