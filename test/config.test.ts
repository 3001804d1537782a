import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, chatTemplateFrom, configHelp, defaults, loadConfig } from "../src/config.ts";
import { threadCandidates } from "../src/inference/threads.ts";

describe("config", () => {
  test("defaults validate and listen on loopback:8080", () => {
    const c = loadConfig([], {});
    expect(c).toEqual(defaults());
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(8080);
  });

  test("flags beat env, env beats defaults; both spellings of flags", () => {
    const c = loadConfig(["--port", "9000", "--model=x.gguf"], { WARREN_PORT: "7000", WARREN_CTX_SIZE: "1024", WARREN_LOG_LEVEL: "debug" });
    expect(c.port).toBe(9000);
    expect(c.model).toBe("x.gguf");
    expect(c.ctxSize).toBe(1024);
    expect(c.logLevel).toBe("debug");
  });

  test("bad values name the flag or env var and the rule, all at once", () => {
    let msg = "";
    try {
      loadConfig(["--port", "99999", "--threads", "two", "--bogus", "1"], { WARREN_LOG_LEVEL: "loud" });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      msg = (err as Error).message;
    }
    expect(msg).toContain('--port="99999": must be an integer from 0 to 65535');
    expect(msg).toContain("--threads");
    expect(msg).toContain("unknown option --bogus");
    expect(msg).not.toContain('"1"');
    expect(msg).toContain("WARREN_LOG_LEVEL");
  });

  test("--flash-attention takes auto|on|off and --memory-share a percent from 1 to 100", () => {
    expect(loadConfig([], {}).flashAttention).toBe("auto");
    expect(loadConfig([], {}).memoryShare).toBe(50);
    const c = loadConfig(["--flash-attention", "off", "--memory-share", "80"], {});
    expect(c.flashAttention).toBe("off");
    expect(c.memoryShare).toBe(80);
    expect(loadConfig([], { WARREN_FLASH_ATTENTION: "on" }).flashAttention).toBe("on");
    expect(() => loadConfig(["--flash-attention", "yes"], {})).toThrow(/--flash-attention/);
    expect(() => loadConfig(["--memory-share", "0"], {})).toThrow(/--memory-share="0": must be an integer from 1 to 100/);
    expect(() => loadConfig(["--memory-share", "101"], {})).toThrow(/--memory-share/);
  });

  test("a flag without a value is an error; words that are not flags are refused", () => {
    expect(() => loadConfig(["--port"], {})).toThrow(/--port needs a value/);
    expect(() => loadConfig(["--model", "--port", "1"], {})).toThrow(/^--model needs a value$/);
    expect(() => loadConfig(["serve"], {})).toThrow('unexpected argument "serve"');
  });

  test("--threads is auto by default, or a count; anything else is refused naming the flag", () => {
    expect(defaults().threads).toBe("auto");
    expect(loadConfig(["--threads", "2"], {}).threads).toBe(2);
    expect(loadConfig([], { WARREN_THREADS: "auto" }).threads).toBe("auto");
    expect(() => loadConfig(["--threads", "0"], {})).toThrow(/--threads="0": must be one of auto \| a count from 1 to 1024/);
    expect(() => loadConfig(["--threads", "many"], {})).toThrow(/--threads="many"/);
  });

  test("auto tries 1, 2, 4, ... up to the cores and the cores themselves, never more", () => {
    expect(threadCandidates(1)).toEqual([1]);
    expect(threadCandidates(2)).toEqual([1, 2]);
    expect(threadCandidates(4)).toEqual([1, 2, 3, 4]);
    expect(threadCandidates(16)).toEqual([1, 2, 4, 8, 15, 16]);
  });

  test("model store settings: --models-dir, --hf-endpoint (an http(s) URL), --offline as a switch", () => {
    expect(defaults()).toMatchObject({ modelsDir: "", hfEndpoint: "", offline: false });
    const c = loadConfig(["--model", "hf:u/r:Q8_0", "--models-dir", "/m", "--hf-endpoint", "https://hf-mirror.com", "--offline"], {});
    expect(c).toMatchObject({ model: "hf:u/r:Q8_0", modelsDir: "/m", hfEndpoint: "https://hf-mirror.com", offline: true });
    expect(loadConfig(["--offline=false"], { WARREN_OFFLINE: "1" }).offline).toBe(false);
    expect(loadConfig([], { WARREN_OFFLINE: "1" }).offline).toBe(true);
    expect(loadConfig([], { WARREN_OFFLINE: "true" }).offline).toBe(true);
    expect(loadConfig(["--no-offline"], { WARREN_OFFLINE: "true" }).offline).toBe(false);
    expect(() => loadConfig([], { WARREN_OFFLINE: "sometimes" })).toThrow('WARREN_OFFLINE="sometimes": must be true or false (or 1 or 0)');
    expect(() => loadConfig(["--hf-endpoint", "hf-mirror.com"], {})).toThrow('--hf-endpoint="hf-mirror.com": must be an http(s) URL');
    expect(loadConfig([], { WARREN_MODELS_DIR: "/x", WARREN_HF_ENDPOINT: "http://127.0.0.1:9/" })).toMatchObject({ modelsDir: "/x", hfEndpoint: "http://127.0.0.1:9/" });
    expect(configHelp()).toMatch(/--\[no-\]offline {2,}Never touch the network/);
  });

  test("help lists every flag with its env var", () => {
    const help = configHelp();
    for (const flag of ["--model", "--host", "--port", "--threads", "--parallel", "--ctx-size", "--log-level", "--max-queue"]) expect(help).toContain(flag);
    expect(help).toContain("WARREN_CTX_SIZE");
  });

  test("--chat-template: a file's Jinja text, a built-in name, or a clear error for an unreadable path", () => {
    const dir = mkdtempSync(join(tmpdir(), "warren-cfg-"));
    try {
      const file = join(dir, "t.jinja");
      writeFileSync(file, "{{ messages[0].content }}");
      expect(chatTemplateFrom({ chatTemplate: "" })).toEqual({});
      expect(chatTemplateFrom({ chatTemplate: file })).toEqual({ jinja: "{{ messages[0].content }}" });
      expect(chatTemplateFrom({ chatTemplate: "chatML" })).toEqual({ wrapper: "chatML" });
      expect(chatTemplateFrom({ chatTemplate: "llama3.1" })).toEqual({ wrapper: "llama3.1" });
      expect(() => chatTemplateFrom({ chatTemplate: join(dir, "missing.jinja") })).toThrow(/--chat-template=.*missing\.jinja.*cannot read it \(ENOENT\)/);
      expect(() => chatTemplateFrom({ chatTemplate: "nope.jinja" })).toThrow(/cannot read it/);
      writeFileSync(join(dir, "empty.jinja"), " \n");
      expect(() => chatTemplateFrom({ chatTemplate: join(dir, "empty.jinja") })).toThrow(/the file is empty/);
      expect(loadConfig(["--chat-template", file], {}).chatTemplate).toBe(file);
      expect(loadConfig([], { WARREN_CHAT_TEMPLATE: "qwen" }).chatTemplate).toBe("qwen");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
