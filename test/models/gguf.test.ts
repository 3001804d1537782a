import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { GgufValueType as VT, tensorBytes } from "../../src/models/gguf-format.ts";
import { readGguf, readTensorBytes } from "../../src/models/gguf-reader.ts";
import { type GgufMetadata, type GgufTensorSpec, kv, layoutGguf, writeGguf } from "../../src/models/gguf-writer.ts";
import { encodeF16, encodeF32, quantizeQ8_0 } from "../../src/models/quant.ts";

const STORIES = "/work/shared/models/stories260K.gguf";
let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-gguf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// One key per writable value type, with edge values.
const METADATA: GgufMetadata = [
  ["general.architecture", kv.str("llama")],
  ["general.alignment", kv.u32(32)],
  ["t.u32", kv.u32(0xffffffff)],
  ["t.i32", kv.i32(-0x80000000)],
  ["t.u64", kv.u64(2 ** 40 + 1)],
  ["t.f32", kv.f32(1e-5)],
  ["t.true", kv.bool(true)],
  ["t.false", kv.bool(false)],
  ["t.empty", kv.str("")],
  ["t.unicode", kv.str("h\u00e9llo \u2581 \u4f60\u597d")],
  ["t.strs", kv.strs(["a", "", "\u2581the", "<0x0A>"])],
  ["t.f32s", kv.f32s(new Float32Array([0.5, -1.25, 3e38]))],
  ["t.i32s", kv.i32s(Int32Array.from([-1, 0, 2147483647]))],
  ["t.u32s", kv.u32s([0, 4294967295])],
  ["t.noarr", kv.i32s([])],
];
const EXPECTED_TYPES: Record<string, number> = {
  "t.u32": VT.UINT32, "t.i32": VT.INT32, "t.u64": VT.UINT64, "t.f32": VT.FLOAT32, "t.true": VT.BOOL,
  "t.empty": VT.STRING, "t.strs": VT.ARRAY, "t.f32s": VT.ARRAY,
};

const f32 = new Float32Array([1, 2, 3]); // 12 bytes: forces padding before the next tensor
const f16 = new Float32Array([0.5, -0.5, 1, 2, 65504, -0, 3, 4, 5, 6]);
const q8src = new Float32Array(64).map((_, i) => (i - 32) / 8);
const q8 = new Uint8Array(68);
quantizeQ8_0(q8src, q8);

const TENSORS: GgufTensorSpec[] = [
  { name: "a.f32", dims: [3], type: "F32", data: () => [encodeF32(f32)] },
  // two chunks, to check the writer concatenates a producer's pieces
  { name: "b.f16", dims: [5, 2], type: "F16", data: () => [encodeF16(f16.subarray(0, 4)), encodeF16(f16.subarray(4))] },
  { name: "c.q8", dims: [32, 2], type: "Q8_0", data: () => [q8] },
];

describe("GGUF writer + reader", () => {
  test("every metadata type round-trips with its type tag", async () => {
    const path = join(dir, "types.gguf");
    await writeGguf(path, METADATA, TENSORS);
    const file = await readGguf(path);
    expect(file.version).toBe(3);
    expect([...file.metadata.keys()]).toEqual(METADATA.map(([k]) => k));
    for (const [key, v] of METADATA) {
      const got = file.metadata.get(key);
      const want = typeof v.value === "object" ? Array.from(v.value as ArrayLike<unknown>) : v.value;
      expect(got).toEqual(v.type === "float32" ? Math.fround(v.value) : (want as never));
    }
    for (const [key, type] of Object.entries(EXPECTED_TYPES)) expect(file.metadataTypes.get(key)).toBe(type);
  });

  test("tensor infos, 32-byte alignment and data bytes round-trip", async () => {
    const path = join(dir, "tensors.gguf");
    const { bytes, sha256 } = await writeGguf(path, METADATA, TENSORS);
    const file = await readGguf(path);
    expect(file.alignment).toBe(32);
    expect(file.dataOffset % 32).toBe(0);
    expect(file.tensors.map((t) => [t.name, t.dims, t.typeName])).toEqual([
      ["a.f32", [3], "F32"],
      ["b.f16", [5, 2], "F16"],
      ["c.q8", [32, 2], "Q8_0"],
    ]);
    expect(file.tensors.map((t) => t.offset)).toEqual([0, 32, 64]);
    expect(Array.from(await readTensorBytes(path, file, "a.f32"))).toEqual(Array.from(encodeF32(f32)));
    expect(Array.from(await readTensorBytes(path, file, "b.f16"))).toEqual(Array.from(encodeF16(f16)));
    expect(Array.from(await readTensorBytes(path, file, "c.q8"))).toEqual(Array.from(q8));
    // the last tensor is padded too, as ggml's writer does
    expect(bytes).toBe(file.dataOffset + 64 + 96);
    expect((await stat(path)).size).toBe(bytes);
    const hasher = new Bun.CryptoHasher("sha256");
    hasher.update(await readFile(path));
    expect(sha256).toBe(hasher.digest("hex"));
  });

  test("node-llama-cpp's GGUF parser reads the same header", async () => {
    const path = join(dir, "nlc.gguf");
    await writeGguf(path, METADATA, TENSORS);
    const info = await readGgufFileInfo(path, { readTensorInfo: true });
    expect(info.version).toBe(3);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(meta.general?.architecture).toBe("llama");
    expect(meta.t?.unicode).toBe("h\u00e9llo \u2581 \u4f60\u597d");
    expect(meta.t?.i32).toBe(-0x80000000);
    expect(Array.from(meta.t?.strs as string[])).toEqual(["a", "", "\u2581the", "<0x0A>"]);
    const tensors = (info.fullTensorInfo ?? []).map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)]);
    expect(tensors).toEqual([
      ["a.f32", [3], 0, 0],
      ["b.f16", [5, 2], 1, 32],
      ["c.q8", [32, 2], 8, 64],
    ]);
  });

  test("layout is pure and matches the file", () => {
    const layout = layoutGguf(METADATA, TENSORS);
    expect(layout.header.length % 32).toBe(0);
    expect(layout.sizes).toEqual([12, 20, 68]);
    expect(tensorBytes("Q8_0", [32, 2])).toBe(68);
  });

  test("refuses bad input instead of writing a broken file", async () => {
    const short: GgufTensorSpec = { name: "s", dims: [4], type: "F32", data: () => [new Uint8Array(12)] };
    await expect(writeGguf(join(dir, "short.gguf"), METADATA, [short])).rejects.toThrow(/produced 12 bytes, expected 16/);
    expect(() => layoutGguf([["k", kv.u32(1)], ["k", kv.u32(2)]], [])).toThrow(/duplicate/);
    expect(() => layoutGguf([["general.alignment", kv.u32(24)]], [])).toThrow(/power of two/);
    expect(() => tensorBytes("Q8_0", [48, 2])).toThrow("tensor of type Q8_0: a row of 48 values does not fill whole blocks of 32");
    expect(() => layoutGguf([["k", kv.u64(-1)]], [])).toThrow(/out of range/);
  });
});

describe("GGUF reader on a real llama.cpp file", () => {
  test("reads stories260K.gguf like node-llama-cpp does", async () => {
    const file = await readGguf(STORIES);
    const info = await readGgufFileInfo(STORIES, { readTensorInfo: true });
    expect(file.version).toBe(3);
    expect(file.metadata.get("general.architecture")).toBe("llama");
    expect(file.metadata.get("llama.block_count")).toBe(5);
    expect((file.metadata.get("tokenizer.ggml.tokens") as string[]).length).toBe(512);
    expect(file.tensors.length).toBe(48);
    const theirs = (info.fullTensorInfo ?? []).map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)]);
    expect(file.tensors.map((t) => [t.name, t.dims, t.type, t.offset])).toEqual(theirs);
  });

  test("rejects a file that is not GGUF, and a truncated header", async () => {
    const bad = join(dir, "bad.gguf");
    await Bun.write(bad, "not a model at all");
    await expect(readGguf(bad)).rejects.toThrow(/bad magic/);
    const cut = join(dir, "cut.gguf");
    await Bun.write(cut, (await readFile(STORIES)).subarray(0, 5000));
    await expect(readGguf(cut)).rejects.toThrow(/truncated/);
  });
});
