import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryIo } from "../../src/cli/io.ts";
import { runModelCli } from "../../src/models/cli.ts";
import { readGguf } from "../../src/models/gguf-reader.ts";

const TINY_SHA = "a1ea9c2b706155254a8a4e6c191e4046a453ea8b26e1d132a3d7ddb97798b273";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo();
  const code = await runModelCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe("warren model CLI", () => {
  test("--help prints usage with every preset and exits 0", async () => {
    for (const args of [["--help"], ["-h"], ["model", "--help"], ["make", "--help"]]) {
      const r = await run(...args);
      expect(r.code).toBe(0);
      expect(r.out).toContain("warren model make --preset NAME --out PATH");
      for (const p of ["tiny", "tiny-f16", "tiny-q8", "bench"]) expect(r.out).toContain(`  ${p} `);
    }
  });

  // [argv, fragment of the error message]; every one must exit 2 and write nothing.
  const bad: Array<[string[], string]> = [
    [[], "missing action"],
    [["frob"], 'unknown action "frob"'],
    [["make"], "--preset is required"],
    [["make", "--preset", "huge", "--out", "x.gguf"], 'unknown preset "huge"'],
    [["make", "--preset", "tiny"], "--out is required"],
    [["make", "--preset", "tiny", "--out"], "--out needs a value"],
    [["make", "--preset", "tiny", "--out="], "--out needs a value"],
    [["make", "--preset", "tiny", "--out", "x.gguf", "--seed", "abc"], "--seed must be an integer"],
    [["make", "--preset", "tiny", "--out", "x.gguf", "--seed", "-1"], "--seed must be an integer"],
    [["make", "--preset", "tiny", "--out", "x.gguf", "--seed", "4294967296"], "--seed must be an integer"],
    [["make", "--preset", "tiny", "--out", "x.gguf", "--size", "9"], "unknown option --size"],
    [["make", "--preset", "tiny", "--preset", "bench", "--out", "x.gguf"], "--preset given twice"],
    [["make", "tiny"], 'unexpected argument "tiny"'],
    [["info"], "exactly one PATH"],
    [["info", "a", "b"], "exactly one PATH"],
    [["info", "--all", "a"], "unknown option --all"],
  ];
  for (const [argv, message] of bad) {
    test(`bad args exit 2: ${argv.join(" ") || "(none)"}`, async () => {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
      expect(r.err).toContain("--help");
      expect(r.out).toBe("");
      expect(existsSync("x.gguf")).toBe(false);
    });
  }

  test("make writes the deterministic file and reports its hash", async () => {
    const out = join(dir, "m", "tiny.gguf");
    const r = await run("model", "make", "--preset=tiny", "--out", out);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`sha256 ${TINY_SHA}`);
    expect(r.out).toContain("196928 params");
    expect(existsSync(out)).toBe(true);
    const seeded = await run("make", "--preset", "tiny", "--out", join(dir, "s.gguf"), "--seed", "4294967295");
    expect(seeded.code).toBe(0);
    expect(seeded.out).not.toContain(TINY_SHA);
  });

  test("make --chat-template and --script: the template is stored, its markers become control tokens, the script pieces tokens", async () => {
    const template = join(dir, "t.jinja");
    await writeFile(template, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}");
    const script = join(dir, "s.json");
    await writeFile(script, JSON.stringify(["<think>", "hello there", "</think>"]));
    const out = join(dir, "scripted.gguf");
    const r = await run("make", "--preset", "tiny", "--out", out, "--chat-template", template, "--script", script);
    expect(r.code).toBe(0);
    const file = await readGguf(out);
    const meta = new Map(file.metadata);
    expect(meta.get("tokenizer.chat_template")).toContain("<|im_start|>{{ m.role }}");
    const tokens = meta.get("tokenizer.ggml.tokens") as string[];
    const types = meta.get("tokenizer.ggml.token_type") as number[];
    expect(tokens.length).toBe(768);
    expect(tokens.slice(-5)).toEqual(["<|im_start|>", "<|im_end|>", "<think>", "hello\u2581there", "</think>"]);
    expect(types.slice(-5)).toEqual([3, 3, 1, 1, 1]);
    expect(meta.get("warren.generator.script")).toEqual(["<think>", "hello there", "</think>"]);
  });

  test("make: bad scripts and unreadable templates exit 2 or 1 with the reason", async () => {
    const out = join(dir, "bad.gguf");
    await writeFile(join(dir, "dup.json"), JSON.stringify(["a b", "a b"]));
    await writeFile(join(dir, "notlist.json"), JSON.stringify({ a: 1 }));
    expect((await run("make", "--preset", "tiny", "--out", out, "--script", join(dir, "notlist.json"))).err).toContain("a JSON list of strings");
    const dup = await run("make", "--preset", "tiny", "--out", out, "--script", join(dir, "dup.json"));
    expect(dup.code).toBe(1);
    expect(dup.err).toContain("appears twice");
    const missing = await run("make", "--preset", "tiny", "--out", out, "--chat-template", join(dir, "none.jinja"));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("ENOENT");
  });

  test("info summarizes metadata and tensors", async () => {
    const out = join(dir, "i.gguf");
    expect((await run("make", "--preset", "tiny-q8", "--out", out)).code).toBe(0);
    const r = await run("info", out);
    expect(r.code).toBe(0);
    expect(r.out).toContain("GGUF v3");
    expect(r.out).toContain('general.architecture = "llama"');
    expect(r.out).toContain("llama.block_count = 2");
    expect(r.out).toContain("llama.attention.layer_norm_rms_epsilon = 0.00001");
    expect(r.out).toContain('tokenizer.ggml.tokens = [768 items: "<unk>", "<s>", "</s>"');
    expect(r.out).toContain("tensors: 21 (16 Q8_0, 5 F32), 196928 params");
  });

  test("info on a missing or non-GGUF file exits 1 with the reason", async () => {
    const missing = await run("info", join(dir, "nope.gguf"));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("ENOENT");
    const junk = join(dir, "junk.bin");
    await writeFile(junk, "definitely not gguf");
    const r = await run("info", junk);
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad magic");
  });
});
