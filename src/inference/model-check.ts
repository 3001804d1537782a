// Checks a model file and a context size before llama.cpp sees them. llama.cpp answers a truncated
// file with several native log lines and "Failed to load model", and it allocates (and zero-fills)
// the whole KV cache at start, so a context too big for the host hangs for minutes or gets the
// process OOM-killed. Here both end in one sentence that says what to change. Pure: the caller reads
// the GGUF header and the host's memory figures and passes them in.
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { freemem } from "node:os";
import { INFERENCE_MEMORY_SHARE_PERCENT } from "../limits.ts";

/**
 * ggml_type id -> [elements per block, bytes per block], from ggml.c's type_traits (the llama.cpp
 * that node-llama-cpp 3.21.1 bundles); test/hardening/model-faults.test.ts compares it with the
 * native library, so an upgrade that adds or changes a type fails there first.
 */
export const GGML_TYPE_BLOCKS: Readonly<Record<number, readonly [elems: number, bytes: number]>> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110], 22: [256, 82],
  23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 29: [256, 56], 30: [1, 2],
  34: [256, 54], 35: [256, 66], 39: [32, 17], 40: [64, 36], 41: [128, 18], 42: [64, 18],
};

export interface TensorExtent {
  name: string;
  /** GGUF order: dims[0] is the row length. */
  dims: readonly number[];
  type: number;
  /** Relative to the start of the data section. */
  offset: number;
}

/** Bytes of a tensor's data, or a reason it cannot be sized. */
export function tensorDataBytes(t: TensorExtent): number | string {
  const block = GGML_TYPE_BLOCKS[t.type];
  if (block === undefined) return `tensor ${t.name} has ggml type ${t.type}, which this build of llama.cpp does not know`;
  const [elems, bytes] = block;
  const row = t.dims[0] ?? 1;
  if (row % elems !== 0) return `tensor ${t.name}: a row of ${row} values does not fill whole blocks of ${elems}`;
  return (t.dims.reduce((a, d) => a * d, 1) / elems) * bytes;
}

/** The first problem with the tensor data layout, or undefined when every tensor lies inside the file. */
export function tensorDataProblem(tensors: readonly TensorExtent[], dataOffset: number, fileSize: number): string | undefined {
  let end = dataOffset;
  for (const t of tensors) {
    const bytes = tensorDataBytes(t);
    if (typeof bytes === "string") return bytes;
    end = Math.max(end, dataOffset + t.offset + bytes);
  }
  if (end <= fileSize) return undefined;
  return `the file is truncated: its tensor data should end at byte ${end} but the file has ${fileSize} bytes (an interrupted download or copy?)`;
}

type Metadata = ReadonlyMap<string, unknown>;

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Bytes of the F16 KV cache llama.cpp allocates for `cells` tokens (all slots together), or
 * undefined where the cache is not plain attention K/V: recurrent state (Mamba, RWKV), compressed
 * latents (MLA) and sliding-window layers are sized differently, and a wrong guess would refuse a
 * config that fits. Compute buffers come on top, so this is a lower bound of what the context needs.
 */
export function kvCacheBytes(meta: Metadata, cells: number): number | undefined {
  const arch = meta.get("general.architecture");
  if (typeof arch !== "string") return undefined;
  const key = (k: string) => meta.get(`${arch}.${k}`);
  if (key("attention.kv_lora_rank") !== undefined || key("attention.sliding_window") !== undefined || key("ssm.state_size") !== undefined) return undefined;
  const layers = num(key("block_count"));
  const embd = num(key("embedding_length"));
  const heads = num(key("attention.head_count"));
  if (!layers || !embd || !heads) return undefined;
  const kvHeads = key("attention.head_count_kv") ?? heads;
  const headsPerLayer = Array.isArray(kvHeads) ? kvHeads.map(num) : Array.from({ length: layers }, () => num(kvHeads));
  const headK = num(key("attention.key_length")) ?? embd / heads;
  const headV = num(key("attention.value_length")) ?? embd / heads;
  let perCell = 0;
  for (const h of headsPerLayer) {
    if (h === undefined) return undefined;
    perCell += h * (headK + headV) * 2;
  }
  return perCell * cells;
}

/** Default share of the host's available memory a context may claim at start (see limits.ts). */
export const CONTEXT_MEMORY_SHARE = INFERENCE_MEMORY_SHARE_PERCENT / 100;

const gib = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(n / 2 ** 20)} MiB`);

export interface ContextPlan {
  slots: number;
  slotContextSize: number;
  kvBytes: number;
  modelBytes: number;
  availableBytes: number;
  /** Fraction of availableBytes allowed (default CONTEXT_MEMORY_SHARE). */
  share?: number;
}

/** One sentence when the plan does not fit, else undefined. */
export function contextMemoryProblem(p: ContextPlan): string | undefined {
  const need = p.kvBytes + p.modelBytes;
  const share = p.share ?? CONTEXT_MEMORY_SHARE;
  if (need <= p.availableBytes * share) return undefined;
  return (
    `--parallel ${p.slots} x --ctx-size ${p.slotContextSize} needs at least ${gib(need)} ` +
    `(KV cache ${gib(p.kvBytes)} + weights ${gib(p.modelBytes)}) but only ${gib(p.availableBytes)} of memory is available ` +
    `and Warren uses at most ${Math.round(share * 100)}% of it: lower --ctx-size or --parallel, or raise --memory-share`
  );
}

/**
 * Memory this process can still get: MemAvailable, capped by a cgroup limit (containers see the
 * host's /proc/meminfo). Falls back to os.freemem() off Linux.
 */
export function availableMemoryBytes(read: (path: string) => string = (p) => readFileSync(p, "utf8")): number {
  const tryRead = (p: string): string | undefined => {
    try {
      return read(p).trim();
    } catch {
      return undefined;
    }
  };
  const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(tryRead("/proc/meminfo") ?? "");
  let available = kb ? Number(kb[1]) * 1024 : freemem();
  const limits: Array<[string, string]> = [
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"],
    ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"],
  ];
  for (const [limitPath, usagePath] of limits) {
    const limit = Number(tryRead(limitPath));
    const usage = Number(tryRead(usagePath));
    // "max" (v2) and v1's near-2^63 sentinel mean no limit.
    if (Number.isFinite(limit) && limit < 2 ** 60 && Number.isFinite(usage)) available = Math.min(available, Math.max(0, limit - usage));
  }
  return available;
}

export interface ModelHeader {
  metadata: Metadata;
  tensors: readonly TensorExtent[];
  dataOffset: number;
}

/**
 * Everything that can be known about a model file before llama.cpp opens it. Throws an Error whose
 * message is one sentence for the log; `readHeader` parses the GGUF header (main.ts passes the
 * models/ reader: inference/ may not import it).
 */
export async function checkModelFile(
  path: string,
  plan: { slots: number; slotContextSize: number; share?: number },
  readHeader: (path: string) => Promise<ModelHeader>,
  availableBytes: number = availableMemoryBytes(),
): Promise<void> {
  let size: number;
  const magic = Buffer.alloc(4);
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
    const fd = openSync(path, "r");
    try {
      readSync(fd, magic, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? "no such file" : code ? `cannot read it (${code})` : (err as Error).message);
  }
  if (size < 4 || magic.toString("latin1") !== "GGUF") throw new Error("not a GGUF file (bad magic bytes)");
  let header: ModelHeader;
  try {
    header = await readHeader(path);
  } catch (err) {
    throw new Error(`the GGUF header is unreadable (${err instanceof Error ? err.message : String(err)}): the file is truncated or corrupt`);
  }
  const layout = tensorDataProblem(header.tensors, header.dataOffset, size);
  if (layout) throw new Error(layout);
  const kvBytes = kvCacheBytes(header.metadata, plan.slots * plan.slotContextSize);
  if (kvBytes === undefined) return;
  const memory = contextMemoryProblem({ ...plan, kvBytes, modelBytes: size, availableBytes });
  if (memory) throw new Error(memory);
}
