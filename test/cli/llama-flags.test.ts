// llama-server's command lines on Warren: its spellings become Warren's flags with the same meaning,
// hardware-only flags are accepted and noted, flags that would change answers are refused by name,
// and --ctx-size is the whole context, divided among the slots, as llama-server divides it.
import { describe, expect, test } from "bun:test";
import { translateLlamaFlags } from "../../src/cli/llama-flags.ts";
import { chatTemplateFrom, ConfigError, cpusFrom, loadConfig, slotContextSize } from "../../src/config.ts";

describe("llama-server's flag spellings", () => {
  test("a typical llama-server command line means the same configuration", () => {
    const notes: string[] = [];
    const c = loadConfig(["-m", "m.gguf", "-c", "8192", "-np", "4", "-t", "2", "-b", "256", "-fa", "off", "--host", "0.0.0.0", "--port", "9000", "-a", "my-model", "--cors-origins", "*"], {}, notes);
    expect(c).toMatchObject({ model: "m.gguf", ctxSize: 8192, parallel: 4, threads: 2, batchSize: 256, flashAttention: "off", host: "0.0.0.0", port: 9000, alias: "my-model", corsOrigin: "*" });
    expect(slotContextSize(c)).toBe(2048);
    expect(notes).toEqual([]);
  });

  test("llama-server's special values: -t -1 is auto, -np -1 the default 4 slots, bare -fa is on", () => {
    const c = loadConfig(["-t", "-1", "-np", "-1", "-fa"], {});
    expect([c.threads, c.parallel, c.flashAttention]).toEqual(["auto", 4, "on"]);
    expect(loadConfig(["--flash-attn", "auto", "--threads", "-1"], {})).toMatchObject({ flashAttention: "auto", threads: "auto" });
  });

  test("CPU placement: -Cr/--cpu-range and -C/--cpu-mask (hex) become --cpus; --cpu-strict is noted", () => {
    expect(loadConfig(["-Cr", "0-3"], {}).cpus).toBe("0-3");
    expect(loadConfig(["--cpu-range", "2-2"], {}).cpus).toBe("2-2");
    expect(loadConfig(["-C", "0x5"], {}).cpus).toBe("0,2");
    expect(loadConfig(["--cpu-mask", "ff00"], {}).cpus).toBe("8,9,10,11,12,13,14,15");
    const notes: string[] = [];
    expect(loadConfig(["--cpu-strict", "1", "--port", "7"], {}, notes).port).toBe(7);
    expect(notes.map((n) => n.split(":")[0])).toEqual(["--cpu-strict"]);
    // A mask that is not hex reaches --cpus as given, which refuses it by its own rule.
    expect(() => cpusFrom(loadConfig(["-C", "zz"], {}))).toThrow(/--cpus="zz": "zz" is not a CPU number/);
  });

  test("switches: --no-slots, --props, -v; Warren's own --slots on|off still work", () => {
    expect(loadConfig(["--no-slots", "--props", "-v"], {})).toMatchObject({ slots: "off", props: "on", logLevel: "debug" });
    expect(loadConfig(["--slots", "off"], {}).slots).toBe("off");
    expect(loadConfig(["--slots", "--port", "1"], {})).toMatchObject({ slots: "on", port: 1 });
  });

  test("--chat-template: llama-server's inline Jinja text and its built-in names", () => {
    const jinja = "{% for m in messages %}{{ m.content }}{% endfor %}";
    expect(chatTemplateFrom(loadConfig(["--chat-template", jinja], {}))).toEqual({ jinja });
    expect(chatTemplateFrom(loadConfig(["--chat-template", "chatml"], {}))).toEqual({ wrapper: "chatML" });
    expect(loadConfig(["--chat-template-file", "t.jinja"], {}).chatTemplate).toBe("t.jinja");
  });

  test("hardware-only and always-on flags are accepted, one note each, and leave the configuration alone", () => {
    const notes: string[] = [];
    const c = loadConfig(["-ngl", "99", "--mlock", "-cb", "--metrics", "-ub", "128", "--port", "7"], {}, notes);
    expect(c.port).toBe(7);
    expect(notes.map((n) => n.split(":")[0])).toEqual(["-ngl", "--mlock", "-cb", "--metrics", "-ub"]);
  });

  test("--no-webui turns the web console off, without a note and without taking the next word", () => {
    const notes: string[] = [];
    const c = loadConfig(["--no-webui", "-m", "x.gguf", "--offline", "-c", "4096"], {}, notes);
    expect({ webui: c.webui, model: c.model, offline: c.offline, ctxSize: c.ctxSize }).toEqual({ webui: false, model: "x.gguf", offline: true, ctxSize: 4096 });
    expect(notes).toEqual([]);
    expect(loadConfig(["--no-ui"], {}).webui).toBe(false);
    expect(loadConfig([], {}).webui).toBe(true);
  });

  test("flags that would change answers are refused by name, all at once", () => {
    let message = "";
    try {
      loadConfig(["--temp", "0.5", "-n", "64", "--lora", "x.gguf", "--port", "1"], {});
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message.split("\n").map((l) => l.split(":")[0])).toEqual(["--temp", "-n", "--lora"]);
    expect(message).toContain("has no Warren equivalent");
  });

  test("Warren's own flags pass through untouched, values that look like llama flags included", () => {
    const t = translateLlamaFlags(["--model", "-m.gguf", "--ctx-per-slot", "512", "--api-key", "-c"]);
    expect(t.args).toEqual(["--model", "-m.gguf", "--ctx-per-slot", "512", "--api-key", "-c"]);
  });
});

describe("context size", () => {
  test("--ctx-size is all slots together; --ctx-per-slot one slot; the default stays 2048 per slot", () => {
    expect(slotContextSize(loadConfig(["--ctx-size", "4096", "--parallel", "8"], {}))).toBe(512);
    expect(slotContextSize(loadConfig(["--ctx-per-slot", "4096", "--parallel", "8"], {}))).toBe(4096);
    expect(slotContextSize(loadConfig(["--parallel", "8"], {}))).toBe(2048);
    expect(slotContextSize(loadConfig([], { WARREN_CTX_SIZE: "1000", WARREN_PARALLEL: "3" }))).toBe(333);
  });

  test("-c 0 is the model's training context, divided among the slots", () => {
    expect(slotContextSize(loadConfig(["-c", "0", "-np", "2"], {}), 4096)).toBe(2048);
  });

  test("both sizes at once, or too little per slot, are refused naming the flags", () => {
    expect(() => loadConfig(["--ctx-size", "4096", "--ctx-per-slot", "512"], {})).toThrow(/--ctx-size and --ctx-per-slot: .*not both/);
    expect(() => slotContextSize(loadConfig(["-c", "16", "-np", "4"], {}))).toThrow(/--ctx-size=16: 16 tokens among 4 slots is 4 per slot/);
  });
});
