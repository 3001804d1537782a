// --mmap: the weights are mapped from the model file (visible in /proc/PID/maps) only when asked;
// by default they are read into memory, so the file is not mapped and may change under the server.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { loadConfig } from "../../src/config.ts";
import { tinyModel } from "../helpers/hardening.ts";
import { startWarren, type WarrenProcess } from "../helpers/warren-process.ts";

let w: WarrenProcess | undefined;
afterEach(async () => {
  await w?.stop("SIGKILL");
  w = undefined;
});

const mapsModel = (pid: number, file: string) => readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").some((l) => l.endsWith(file));

describe("--mmap", () => {
  test("off by default; --mmap and llama-server's --no-mmap set it, without a note", () => {
    const notes: string[] = [];
    expect([loadConfig([], {}).mmap, loadConfig(["--mmap"], {}, notes).mmap, loadConfig(["--no-mmap"], {}, notes).mmap]).toEqual([false, true, false]);
    expect(notes).toEqual([]);
  });

  for (const [flags, mapped] of [[[], false], [["--mmap"], true]] as const) {
    test(`${flags.length ? flags.join(" ") : "default"}: the model file is ${mapped ? "" : "not "}mapped, and the model answers`, async () => {
      const model = await tinyModel();
      w = await startWarren(["--model", model, "--threads", "1", "--parallel", "1", ...flags]);
      const r = await fetch(`${w.url}/generate`, { method: "POST", body: JSON.stringify({ prompt: "Hi", max_tokens: 3 }) });
      expect(r.status).toBe(200);
      expect(mapsModel(w.proc.pid, model)).toBe(mapped);
    }, 30_000);
  }
});
