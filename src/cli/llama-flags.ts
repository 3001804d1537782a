// llama-server's spellings of serve flags, rewritten into Warren's before parsing, so that a
// llama-server command line means the same on Warren (`-m x.gguf -c 8192 -np 4 -t 4 --no-webui`).
//
// Three kinds:
//   - same meaning, other spelling (`-m`, `-np`, `-fa`, `--chat-template-file`, ...): rewritten,
//     with llama-server's special values mapped (`-t -1` is auto, `-np -1` is the default 4);
//   - what only changes how llama.cpp runs on hardware Warren does not use, or what Warren always
//     does (`-ngl` on a CPU-only build, `--mlock`, `--cont-batching`, `--metrics`, ...): accepted,
//     each named in a note for the log, as llama-server itself warns on a CPU-only build;
//   - what would change answers and has no Warren equivalent (`--temp`, `-n`, `--lora`, ...):
//     an error naming it, rather than a generic "unknown option".
// `--ctx-size` has llama-server's meaning in Warren too (the whole context, divided among slots).

interface Rewrite {
  /** Warren's flag. */
  to: string;
  /** The flag takes a value (llama-server's boolean switches take none). */
  value: boolean;
  /** llama-server's value -> Warren's (identity when absent). */
  map?: (v: string) => string;
  /** For switches: the value Warren's flag gets. */
  set?: string;
}

const auto = (v: string) => (v === "-1" ? "auto" : v);

/** llama-server's -C hex mask ("0x5", "5") as a CPU list ("0,2"); anything else is passed on for --cpus to refuse. */
function maskToList(v: string): string {
  const hex = /^(?:0x)?([0-9a-f]+)$/i.exec(v)?.[1];
  if (hex === undefined) return v;
  const cpus: number[] = [];
  const bits = BigInt(`0x${hex}`);
  for (let c = 0; bits >> BigInt(c) !== 0n; c++) if ((bits >> BigInt(c)) & 1n) cpus.push(c);
  return cpus.length > 0 ? cpus.join(",") : v;
}
/** llama-server's chat template names -> node-llama-cpp's built-in wrappers that write the same format. */
const TEMPLATE_NAMES: Record<string, string> = { chatml: "chatML", llama2: "llama2Chat", llama3: "llama3", gemma: "gemma", deepseek3: "deepSeek", "mistral-v7": "mistral" };

const REWRITES: Record<string, Rewrite> = {
  "-m": { to: "model", value: true },
  "-c": { to: "ctx-size", value: true },
  "-np": { to: "parallel", value: true, map: (v) => (v === "-1" ? "4" : v) },
  "--parallel": { to: "parallel", value: true, map: (v) => (v === "-1" ? "4" : v) },
  "-t": { to: "threads", value: true, map: auto },
  "--threads": { to: "threads", value: true, map: auto },
  // llama-server places its ggml threads; Warren's --cpus confines the whole process (see cpu-affinity.ts).
  "-Cr": { to: "cpus", value: true },
  "--cpu-range": { to: "cpus", value: true },
  "-C": { to: "cpus", value: true, map: maskToList },
  "--cpu-mask": { to: "cpus", value: true, map: maskToList },
  "-b": { to: "batch-size", value: true },
  "-fa": { to: "flash-attention", value: true },
  "--flash-attn": { to: "flash-attention", value: true },
  "--chat-template-file": { to: "chat-template", value: true },
  "--chat-template": { to: "chat-template", value: true, map: (v) => TEMPLATE_NAMES[v] ?? v },
  "--cors-origins": { to: "cors-origin", value: true },
  "-a": { to: "alias", value: true },
  "-v": { to: "log-level", value: false, set: "debug" },
  "--verbose": { to: "log-level", value: false, set: "debug" },
  "--log-verbose": { to: "log-level", value: false, set: "debug" },
  "--log-disable": { to: "log-level", value: false, set: "error" },
  "--no-slots": { to: "slots", value: false, set: "off" },
  // Warren's own --slots on|off and --props on|off; bare, they are llama-server's switches.
  "--slots": { to: "slots", value: true },
  "--props": { to: "props", value: true },
  // llama-server's web UI switches turn Warren's web console on and off (--webui and --no-webui are Warren's own too).
  "--ui": { to: "webui", value: false, set: "true" },
  "--no-ui": { to: "webui", value: false, set: "false" },
};

/** Accepted and noted: hardware placement and tuning Warren does not use, or what Warren always does. */
const IGNORED_SWITCHES = new Set(["--mlock", "--jinja", "-cb", "--cont-batching", "--metrics", "--cache-prompt", "--embedding", "--embeddings", "--rerank", "--reranking", "--warmup", "--no-warmup", "--no-kv-offload", "-nkvo", "--kv-unified", "-kvu", "--swa-full"]);
const IGNORED_WITH_VALUE = new Set(["-ngl", "--gpu-layers", "--n-gpu-layers", "-ub", "--ubatch-size", "-tb", "--threads-batch", "--threads-http", "--prio", "--poll", "--cpu-strict", "-Cb", "--cpu-mask-batch", "-Crb", "--cpu-range-batch", "--cpu-strict-batch", "--prio-batch", "--poll-batch", "--cache-reuse", "-sps", "--slot-prompt-similarity", "-dev", "--device", "-sm", "--split-mode", "-mg", "--main-gpu", "--numa", "--cache-ram", "-cram", "-fit", "--fit", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v"]);
/** llama-server flags that change answers and that Warren does not have. */
const UNSUPPORTED = new Set([
  "-n", "--predict", "--n-predict", "-s", "--seed", "--temp", "--temperature", "--top-k", "--top-p", "--min-p", "--typical", "--repeat-penalty", "--repeat-last-n",
  "--presence-penalty", "--frequency-penalty", "--mirostat", "--samplers", "--grammar", "--grammar-file", "-j", "--json-schema", "--lora", "--lora-scaled",
  "--control-vector", "-r", "--reverse-prompt", "--spm-infill", "--reasoning-format", "--reasoning-budget", "--api-prefix", "--path", "--ssl-key-file",
  "--ssl-cert-file", "-to", "--timeout", "--context-shift", "--keep", "-hf", "--hf-repo", "-mu", "--model-url", "--embd-normalize", "--pooling",
  "--override-kv", "--rope-scaling", "--rope-scale", "--rope-freq-base", "--no-jinja", "--no-cont-batching", "--no-cache-prompt", "-sp", "--special",
  "--slot-save-path", "--chat-template-kwargs", "-md", "--model-draft",
]);

/** Flags whose value is optional in llama-server (`-fa` alone turns flash attention on). */
const OPTIONAL_VALUE: Record<string, { values: readonly string[]; default: string }> = {
  "-fa": { values: ["on", "off", "auto"], default: "on" },
  "--flash-attn": { values: ["on", "off", "auto"], default: "on" },
  "--slots": { values: ["on", "off"], default: "on" },
  "--props": { values: ["on", "off"], default: "on" },
};

interface Translated {
  args: string[];
  /** One line per llama-server flag accepted without effect. */
  notes: string[];
  /** One line per llama-server flag Warren cannot honour. */
  problems: string[];
}

/**
 * Rewrites llama-server's spellings in `argv` into Warren's; Warren's own flags pass through.
 * `switches`: Warren's flags that take no value (`--offline`, `--webui`), also in their `--no-` form.
 */
export function translateLlamaFlags(argv: readonly string[], switches: ReadonlySet<string> = new Set()): Translated {
  const out: Translated = { args: [], notes: [], problems: [] };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const eq = word.startsWith("-") ? word.indexOf("=") : -1;
    const name = eq > 0 ? word.slice(0, eq) : word;
    const inline = eq > 0 ? word.slice(eq + 1) : undefined;
    const next = argv[i + 1];
    const rewrite = REWRITES[name];
    if (rewrite) {
      i += take(out, name, rewrite, inline, next);
    } else if (IGNORED_SWITCHES.has(name)) {
      out.notes.push(`${name}: llama-server's flag is accepted and has no effect here (Warren does this already, or does not use it)`);
    } else if (IGNORED_WITH_VALUE.has(name)) {
      if (inline === undefined) i++;
      out.notes.push(`${name}: llama-server's flag is accepted and has no effect here (Warren runs on the CPU and sizes its own buffers)`);
    } else if (UNSUPPORTED.has(name)) {
      if (inline === undefined && next !== undefined && !next.startsWith("-")) i++;
      out.problems.push(`${name}: llama-server's flag has no Warren equivalent (docs/operations.md lists the flags Warren takes)`);
    } else if (switches.has(name) || (name.startsWith("--no-") && switches.has(`--${name.slice(5)}`))) {
      out.args.push(word);
    } else if (name.startsWith("--") && inline === undefined && next !== undefined && !next.startsWith("--")) {
      // Every other Warren serve flag takes a value: it passes through as it is, even one like "-c".
      out.args.push(word, next);
      i++;
    } else out.args.push(word);
  }
  return out;
}

/** Appends the rewritten flag; returns how many following words it consumed. */
function take(out: Translated, name: string, r: Rewrite, inline: string | undefined, next: string | undefined): number {
  if (!r.value) {
    // One word: Warren's switches (--webui) take no separate value.
    out.args.push(`--${r.to}=${r.set!}`);
    return 0;
  }
  const optional = OPTIONAL_VALUE[name];
  if (optional && inline === undefined && (next === undefined || !optional.values.includes(next))) {
    out.args.push(`--${r.to}`, optional.default);
    return 0;
  }
  const value = inline ?? next;
  if (value === undefined) {
    out.args.push(`--${r.to}`);
    return 0;
  }
  out.args.push(`--${r.to}`, r.map ? r.map(value) : value);
  return inline === undefined ? 1 : 0;
}
