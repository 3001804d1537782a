// --cpus: the CPU list as taskset writes it, and the whole process confined to it (threads made
// before and after). Confining runs in a child process: the test runner itself keeps all its CPUs.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { confineProcess, formatCpuList, parseCpuList, usableCpus } from "../src/cpu-affinity.ts";
import { cpusFrom } from "../src/config.ts";

describe("CPU lists", () => {
  const good: Array<[string, number[], string]> = [
    ["0", [0], "0"],
    ["0-3,6", [0, 1, 2, 3, 6], "0-3,6"],
    [" 2 , 0 ", [0, 2], "0,2"],
    ["1,1-2,5-5", [1, 2, 5], "1-2,5"],
    ["1023", [1023], "1023"],
  ];
  for (const [text, cpus, formatted] of good) {
    test(`"${text}" is ${formatted}`, () => {
      expect(parseCpuList(text)).toEqual(cpus);
      expect(formatCpuList(parseCpuList(text))).toBe(formatted);
    });
  }
  const bad: Array<[string, RegExp]> = [
    ["a", /"a" is not a CPU number/],
    ["1,,2", /"" is not a CPU number/],
    ["3-1", /runs backwards/],
    ["-1", /"-1" is not/],
    ["1024", /beyond the 1024/],
  ];
  for (const [text, message] of bad) test(`"${text}" is refused: ${message.source}`, () => expect(() => parseCpuList(text)).toThrow(message));

  test("--cpus: empty is none; a bad list is a settings error naming the flag", () => {
    expect(cpusFrom({ cpus: "" })).toBeUndefined();
    expect(cpusFrom({ cpus: "0-1" })).toEqual([0, 1]);
    expect(() => cpusFrom({ cpus: "x" })).toThrow(/--cpus="x": "x" is not a CPU number/);
  });
});

describe.if(process.platform === "linux")("confining the process", () => {
  test("every thread, those there before and one started after, runs on the CPUs given", async () => {
    const script = `
      import { confineProcess, usableCpus } from ${JSON.stringify(join(import.meta.dir, "../src/cpu-affinity.ts"))};
      import { readdirSync, readFileSync } from "node:fs";
      const before = usableCpus();
      confineProcess([0]);
      const worker = new Worker(URL.createObjectURL(new Blob(["postMessage(1)"])));
      await new Promise((r) => (worker.onmessage = r));
      const lists = readdirSync("/proc/self/task").map((t) => /Cpus_allowed_list:\\s*(\\S+)/.exec(readFileSync("/proc/self/task/" + t + "/status", "utf8"))[1]);
      console.log(JSON.stringify({ before, after: usableCpus(), threads: lists.length, lists: [...new Set(lists)] }));
      worker.terminate();
    `;
    const proc = Bun.spawn({ cmd: [process.execPath, "-e", script], stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.before).toBe(usableCpus());
    expect(r.after).toBe(1);
    expect(r.threads).toBeGreaterThan(1);
    expect(r.lists).toEqual(["0"]);
  });

  test("a CPU the process may not use is refused, saying which it may use, and nothing changes", () => {
    const mine = usableCpus();
    expect(() => confineProcess([1023])).toThrow(/CPU 1023 is not available to this process \(it may use \d/);
    expect(usableCpus()).toBe(mine);
  });
});
