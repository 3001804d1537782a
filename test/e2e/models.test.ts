// Several models in one `warren serve` process (the real CLI, real sockets, generated models):
// a folder of three tiny models of different seeds, a broken GGUF beside them, and a models file
// giving one model its own settings and adding one too large for the memory budget.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeModel } from "../../src/models/presets.ts";
import { parseProm, sampleValue } from "../api/helpers.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

let dir: string;
let w: WarrenProcess;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warren-models-"));
  const seeds = { alpha: 1, beta: 2, gamma: 3 };
  for (const [name, seed] of Object.entries(seeds)) await makeModel({ preset: "tiny", out: join(dir, "folder", `${name}.gguf`), seed });
  writeFileSync(join(dir, "folder", "broken.gguf"), "GGUF this is not a model");
  writeFileSync(
    join(dir, "models.toml"),
    ["[models.gamma]", "parallel = 1", "ctx-size = 128", "", "[models.big]", 'path = "folder/alpha.gguf"', "parallel = 256", "ctx-per-slot = 1048576", ""].join("\n"),
  );
  const args = ["--models-dir", join(dir, "folder"), "--models-file", join(dir, "models.toml"), "--models-max", "2", "--memory-share", "10"];
  w = await startWarren([...args, "--threads", "1", "--parallel", "2", "--ctx-size", "256", "--max-queue", "32"]);
}, 60_000);
afterAll(async () => {
  await w?.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown) => fetch(`${w.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const complete = async (model: string, extra: Record<string, unknown> = {}) => {
  const r = await post("/v1/completions", { model, prompt: "Once upon a time", max_tokens: 24, temperature: 0, ...extra });
  return { status: r.status, body: (await r.json()) as any };
};
const states = async (): Promise<Record<string, string>> => {
  const list = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: Array<{ id: string; status: { value: string } }> };
  return Object.fromEntries(list.data.map((m) => [m.id, m.status.value]));
};
const metrics = async () => parseProm(await (await fetch(`${w.url}/metrics`)).text()).samples;

async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("warren serve --models-dir: three generated models in one process", () => {
  test("the server is healthy at once; every model is listed unloaded, with its own settings", async () => {
    expect((await fetch(`${w.url}/health`)).status).toBe(200);
    expect(await states()).toEqual({ alpha: "unloaded", beta: "unloaded", big: "unloaded", broken: "unloaded", gamma: "unloaded" });
    const list = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: Array<{ id: string; settings: Record<string, unknown> }> };
    expect(list.data.find((m) => m.id === "gamma")!.settings).toMatchObject({ parallel: 1, ctx_size: 128 });
    expect(list.data.find((m) => m.id === "beta")!.settings).toMatchObject({ parallel: 2, ctx_size: 256, ctx_per_slot: 128 });
  });

  test("routing by name: each model answers with its own weights, the same way every time", async () => {
    const texts: Record<string, string> = {};
    for (const name of ["alpha", "beta", "gamma"]) {
      const a = await complete(name);
      expect([a.status, a.body.model]).toEqual([200, name]);
      texts[name] = a.body.choices[0].text;
      expect((await complete(name)).body.choices[0].text).toBe(texts[name]!);
    }
    expect(new Set(Object.values(texts)).size).toBe(3);
    const unknown = await complete("llama-70b");
    expect(unknown.status).toBe(404);
    // The models file's own models first, then the folder's, by name.
    expect(unknown.body.error.message).toContain("these models: big, alpha, beta, broken, gamma");
  });

  test("--models-max 2: the third model unloaded the least recently used one", async () => {
    expect(await states()).toMatchObject({ alpha: "unloaded", beta: "loaded", gamma: "loaded" });
    expect(sampleValue(await metrics(), "warren_model_evictions_total", { model: "alpha", reason: "room" })).toBe(1);
    expect(w.log()).toContain("model alpha unloaded (to make room for another)");
  });

  test("two models stream at the same time", async () => {
    const stream = async (model: string, order: string[]) => {
      const r = await post("/generate", { model, prompt: "Hello", max_tokens: 100, stream: true, ignore_eos: true, temperature: 0 });
      const reader = r.body!.getReader();
      let text = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
        order.push(model);
      }
      return text;
    };
    const order: string[] = [];
    const [b, g] = await Promise.all([stream("beta", order), stream("gamma", order)]);
    expect(b).toContain('"done":true');
    expect(g).toContain('"done":true');
    expect(order.indexOf("gamma")).toBeLessThan(order.lastIndexOf("beta"));
    expect(order.indexOf("beta")).toBeLessThan(order.lastIndexOf("gamma"));
  });

  test("a model in flight is never unloaded: with both loaded models busy a third waits for one to go idle", async () => {
    // gamma's own settings give it 128 tokens per slot.
    const long = { max_tokens: 100, ignore_eos: true };
    const reference = { beta: (await complete("beta", long)).body.choices[0].text, gamma: (await complete("gamma", long)).body.choices[0].text };
    const loadsBefore = await metrics();
    const busy = (["beta", "gamma"] as const).flatMap((name) => Array.from({ length: 16 }, () => complete(name, long).then((r) => ({ name, ...r }))));
    const inFlight = (m: Awaited<ReturnType<typeof metrics>>, model: string) => sampleValue(m, "warren_model_in_flight", { model }) ?? 0;
    await waitUntil(async () => {
      const m = await metrics();
      return inFlight(m, "beta") > 5 && inFlight(m, "gamma") > 5;
    }, "beta and gamma to be busy");
    const other = complete("alpha");
    // Watch every state until alpha is answered: a model with requests in flight is never unloading or unloaded.
    let answered = false;
    void other.then(() => (answered = true));
    const seen: string[] = [];
    let waitedForRoom = false;
    while (!answered) {
      const list = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: Array<{ id: string; status: { value: string; in_flight: number } }> };
      const by = Object.fromEntries(list.data.map((m) => [m.id, m.status]));
      for (const m of list.data) if (m.status.in_flight > 0 && !["loaded", "loading"].includes(m.status.value)) seen.push(`${m.id} ${m.status.value} with ${m.status.in_flight} in flight`);
      if (by.alpha!.value === "loading" && by.beta!.in_flight > 0 && by.gamma!.in_flight > 0) waitedForRoom = true;
      await Bun.sleep(10);
    }
    expect(seen).toEqual([]);
    expect(waitedForRoom).toBe(true);
    expect((await other).status).toBe(200);
    for (const d of await Promise.all(busy)) expect([d.status, d.body.choices[0].text]).toEqual([200, reference[d.name]]);
    const after = await metrics();
    // Neither busy model was reloaded; the first to go idle made room for alpha.
    for (const name of ["beta", "gamma"]) expect(sampleValue(after, "warren_model_loads_total", { model: name })).toBe(sampleValue(loadsBefore, "warren_model_loads_total", { model: name }));
    expect(Object.values(await states()).filter((v) => v === "loaded")).toHaveLength(2);
    expect((await states()).alpha).toBe("loaded");
  }, 60_000);

  test("a broken GGUF in the folder: a clear error in the API's shape, marked failed; the others keep serving", async () => {
    const r = await complete("broken");
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe("model_load_failed");
    expect(r.body.error.message).toMatch(/^cannot load model 'broken': /);
    const list = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: Array<{ id: string; status: { value: string; error?: string } }> };
    expect(list.data.find((m) => m.id === "broken")!.status).toMatchObject({ value: "failed", error: r.body.error.message });
    const native = await post("/generate", { model: "broken", prompt: "x" });
    expect((await native.json()) as object).toEqual({ success: false, error: { code: "model_load_failed", message: r.body.error.message } });
    expect((await complete("alpha")).status).toBe(200);
  });

  test("a model too large for the memory budget: 503 naming the budget, nothing unloaded for it", async () => {
    const before = await states();
    const r = await complete("big");
    expect(r.status).toBe(503);
    expect(r.body.error.message).toMatch(/needs 64\.0 GiB .* but the memory budget is .* \(--memory-share 10% of the .* available at start\)/);
    const after = await states();
    expect({ ...after, big: "-" }).toEqual({ ...before, big: "-" });
  });

  test("POST /models/unload and /models/load; an idle model unloads after the keep_alive it was given", async () => {
    const un = await post("/models/unload", { model: "alpha" });
    expect(((await un.json()) as any).data.status.value).toBe("unloaded");
    const load = await post("/models/load", { model: "gamma", keep_alive: "300ms" });
    expect(((await load.json()) as any).data).toMatchObject({ id: "gamma", status: { value: "loaded" }, settings: { keep_alive: "300ms" } });
    await waitUntil(async () => (await states()).gamma === "unloaded", "gamma to unload when idle");
    const m = await metrics();
    expect(sampleValue(m, "warren_model_evictions_total", { model: "gamma", reason: "idle" })).toBe(1);
    expect(sampleValue(m, "warren_model_evictions_total", { model: "alpha", reason: "request" })).toBe(1);
    expect(sampleValue(m, "warren_model_loaded", { model: "gamma" })).toBe(0);
    expect(sampleValue(m, "warren_model_generated_tokens_total", { model: "beta" })).toBeGreaterThan(16 * 100);
  });

  test("SIGTERM with models loaded drains and exits 0", async () => {
    expect(await w.stop("SIGTERM")).toBe(0);
    expect(w.log()).toContain("stopped");
  });
});

describe("warren serve --model NAME=FILE (one model): any name, and the model operations", () => {
  let one: WarrenProcess;
  let tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "warren-one-"));
    await makeModel({ preset: "tiny", out: join(tmp, "tiny.gguf") });
    one = await startWarren(["--model", `story=${join(tmp, "tiny.gguf")}`, "--threads", "1", "--parallel", "1", "--ctx-size", "128"]);
  }, 60_000);
  afterAll(async () => {
    await one?.stop("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  });

  test("loaded at start under its given name; any name reaches it; unloaded by hand, it loads again on the next request", async () => {
    expect(one.log()).toMatch(/ready: model .* slots=1/);
    const list = (await (await fetch(`${one.url}/v1/models`)).json()) as { data: Array<{ id: string; status: { value: string } }> };
    expect(list.data.map((m) => [m.id, m.status.value])).toEqual([["story", "loaded"]]);
    const ask = async () => (await fetch(`${one.url}/v1/completions`, { method: "POST", body: JSON.stringify({ model: "gpt-4o", prompt: "Hi", max_tokens: 5, temperature: 0 }) })).json() as Promise<any>;
    const first = await ask();
    expect(first.model).toBe("gpt-4o");
    const un = await fetch(`${one.url}/models/unload`, { method: "POST", body: JSON.stringify({ model: "anything" }) });
    expect(((await un.json()) as any).data.status.value).toBe("unloaded");
    expect(((await (await fetch(`${one.url}/health`)).json()) as any).data).toEqual({ status: "healthy", model_loaded: false });
    expect((await ask()).choices[0].text).toBe(first.choices[0].text);
    expect(((await (await fetch(`${one.url}/health`)).json()) as any).data.model_loaded).toBe(true);
  });
});
