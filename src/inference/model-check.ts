// Checks a model file and a context size before llama.cpp sees them. llama.cpp answers a truncated
// file with several native log lines and "Failed to load model", and it allocates (and zero-fills)
// the whole KV cache at start, so a context too big for the host hangs for minutes or gets the
// process OOM-killed. Here both end in one sentence that says what to change. The parts are pure (the
// header and the host's memory figures are passed in); checkModelFile reads them and runs the parts.
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { freemem } from "node:os";
import { INFERENCE_MEMORY_SHARE_PERCENT } from "../limits.ts";
import type { ModelHeader } from "./llama/gguf-header.ts";

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

export const gib = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(n / 2 ** 20)} MiB`);

interface ContextPlan {
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
    `--parallel ${p.slots} x ${p.slotContextSize} tokens per slot needs at least ${gib(need)} ` +
    `(KV cache ${gib(p.kvBytes)} + weights ${gib(p.modelBytes)}) but only ${gib(p.availableBytes)} of memory is available ` +
    `and Warren uses at most ${Math.round(share * 100)}% of it: lower --ctx-size (or --ctx-per-slot) or --parallel, or raise --memory-share`
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

/** The first problem with the tensor data layout, or undefined when every tensor lies inside the file. */
type TensorLayoutCheck = (tensors: ModelHeader["tensors"], dataOffset: number, fileSize: number) => string | undefined;

/** What a model costs in memory, as its file tells: weights (the file's size) and the KV cache. */
interface ModelPlan {
  weightsBytes: number;
  /** For `cells` tokens (all slots together); undefined where kvCacheBytes cannot tell. */
  kvBytes?: number;
}

/**
 * Reads what can be known about a model file before llama.cpp opens it: checks it is a GGUF whose
 * header and tensor data lie inside the file, and sizes it for `cells` KV cells. Throws an Error
 * whose message is one sentence for the log. The header is read with node-llama-cpp's parser (see
 * llama/gguf-header.ts); `layoutProblem` sizes the tensors by ggml type (main.ts passes the models/
 * table's check: inference/ may not import it).
 */
export async function modelPlan(path: string, cells: number, layoutProblem: TensorLayoutCheck): Promise<ModelPlan> {
  const { size, start } = fileStart(path);
  if (size < 4 || start.toString("latin1", 0, 4) !== "GGUF") throw new Error("not a GGUF file (bad magic bytes)");
  let header: ModelHeader;
  try {
    header = await readHeader(path, start, size);
  } catch (err) {
    throw new Error(`the GGUF header is unreadable (${err instanceof Error ? err.message : String(err)}): the file is truncated or corrupt`);
  }
  const layout = layoutProblem(header.tensors, header.dataOffset, size);
  if (layout) throw new Error(layout);
  return { weightsBytes: size, kvBytes: kvCacheBytes(header.metadata, cells) };
}

/** modelPlan, then the plan against the host's memory: everything wrong with a model file and a context, before loading. */
export async function checkModelFile(
  path: string,
  plan: { slots: number; slotContextSize: number; share?: number },
  layoutProblem: TensorLayoutCheck,
  availableBytes: number = availableMemoryBytes(),
): Promise<void> {
  const { weightsBytes, kvBytes } = await modelPlan(path, plan.slots * plan.slotContextSize, layoutProblem);
  if (kvBytes === undefined) return;
  const memory = contextMemoryProblem({ ...plan, kvBytes, modelBytes: weightsBytes, availableBytes });
  if (memory) throw new Error(memory);
}

/** The file's size and first 8 bytes (magic and version; zeros past its end), or why it cannot be read. */
function fileStart(path: string): { size: number; start: Buffer } {
  const start = Buffer.alloc(8);
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a regular file");
    const fd = openSync(path, "r");
    try {
      readSync(fd, start, 0, 8, 0);
    } finally {
      closeSync(fd);
    }
    return { size: st.size, start };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? "no such file" : code ? `cannot read it (${code})` : (err as Error).message);
  }
}

/** The header, once the version is one llama.cpp reads and the header lies wholly inside the file. */
async function readHeader(path: string, start: Buffer, size: number): Promise<ModelHeader> {
  if (size < 8) throw new Error("truncated GGUF header");
  const version = start.readUInt32LE(4);
  if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`);
  // Loaded here, not at startup: node-llama-cpp takes a while to import and `warren model` never needs it.
  const { readModelHeader } = await import("./llama/gguf-header.ts");
  const header = await readModelHeader(path);
  if (header.headerEnd > size) throw new Error("truncated GGUF header");
  return header;
}
