// Memory upkeep: a full collection (here and on the decode threads) while requests keep coming,
// nothing while the server is idle, and a timer that stops when told.
import { expect, test } from "bun:test";
import { createLogger } from "../src/log.ts";
import { startMemoryUpkeep } from "../src/memory.ts";
import { waitUntil } from "./helpers/hardening.ts";

test("collects in intervals in which requests were served, asks the decode threads too, skips idle ones, stops", async () => {
  let served = 0;
  const asked: number[] = [];
  const lines: string[] = [];
  const log = createLogger("debug", (l) => lines.push(l), "text");
  const stop = startMemoryUpkeep(20, () => served, log, () => {
    asked.push(served);
    return Promise.resolve([1.25, 2.5]);
  });
  const logged = () => lines.some((l) => /gc: full collection in [\d.]+ ms, malloc_trim .*, decode threads 1\.3, 2\.5 ms$/.test(l));
  try {
    await Bun.sleep(90);
    expect(asked).toEqual([]);
    served = 5;
    await waitUntil(() => asked.length > 0 && logged(), "the first collection and its log line");
    // Intervals without new requests ask nothing more.
    await Bun.sleep(90);
    expect(asked).toEqual([5]);
    served = 9;
    await waitUntil(() => asked.length > 1, "the second collection");
    await Bun.sleep(90);
    expect(asked).toEqual([5, 9]);
  } finally {
    stop();
  }
  served = 12;
  await Bun.sleep(90);
  expect(asked).toEqual([5, 9]);
});

test("0 disables it", async () => {
  const asked: number[] = [];
  let served = 0;
  const stop = startMemoryUpkeep(0, () => served, createLogger("debug", () => {}, "text"), () => {
    asked.push(served);
    return Promise.resolve([]);
  });
  served = 3;
  await Bun.sleep(60);
  stop();
  expect(asked).toEqual([]);
});
