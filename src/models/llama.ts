// Turns a preset + seed into GGUF metadata and streamed tensors for llama.cpp's "llama" arch.
import { type TensorType } from "./gguf-format.ts";
import { type GgufMetadata, type GgufTensorSpec, kv } from "./gguf-writer.ts";
import { type Preset, type PresetName, type TensorPlan, headDim, planTensors } from "./shapes.ts";
import { Q8_0_BYTES, Q8_0_BLOCK, encodeF16, encodeF32, quantizeQ8_0 } from "./quant.ts";
import { Xoshiro128, fillNormalish, hashString } from "./rng.ts";
import { scriptPieces, scriptWeights } from "./script.ts";
import { BOS_ID, EOS_ID, FIRST_NORMAL_ID, TOKEN_TYPE, UNK_ID, buildVocab, type Vocab } from "./vocab.ts";

/** What a generated model may carry besides its preset's weights. */
export interface ModelExtras {
  /** A Jinja chat template, stored as tokenizer.chat_template. */
  chatTemplate?: string;
  /** A scripted reply (script.ts): the model answers every prompt with these pieces, in order. */
  script?: readonly string[];
}

/**
 * The preset's vocabulary with its last entries replaced: first by the control tokens a chat
 * template writes (`<|im_start|>` and the like, so the template's markers are single tokens, as in
 * the models the template comes from), then by the script's pieces.
 */
function vocabFor(nVocab: number, extras: ModelExtras): Vocab {
  const vocab = buildVocab(nVocab);
  const controls = templateControls(extras.chatTemplate);
  const pieces = extras.script ? scriptPieces(extras.script) : [];
  const added = [...controls.map((text) => ({ text, type: TOKEN_TYPE.CONTROL })), ...pieces.map((text) => ({ text, type: TOKEN_TYPE.NORMAL }))];
  if (added.length === 0) return vocab;
  const first = nVocab - added.length;
  if (first < FIRST_NORMAL_ID + 128) throw new Error(`${added.length} added tokens (template markers and script pieces) do not fit a vocabulary of ${nVocab}`);
  const present = new Set(vocab.tokens.slice(0, first));
  added.forEach((a, i) => {
    if (present.has(a.text)) throw new Error(`${JSON.stringify(a.text)} is already a token of the vocabulary: pick a longer script piece`);
    present.add(a.text);
    vocab.tokens[first + i] = a.text;
    vocab.types[first + i] = a.type;
    vocab.scores[first + i] = -nVocab;
  });
  return vocab;
}

/** Markers like `<|im_start|>` in a template, in order of first appearance. */
function templateControls(template: string | undefined): string[] {
  if (!template) return [];
  return [...new Set(template.match(/<\|[A-Za-z0-9_]{1,32}\|>/g) ?? [])];
}

/** Token ids of a script's pieces (the last entries of the vocabulary). */
function scriptIds(nVocab: number, script: readonly string[]): number[] {
  return script.map((_, i) => nVocab - script.length + i);
}

/** Bumped when the same preset + seed would produce different bytes; stored in the file. */
const GENERATOR_VERSION = 1;

// llama_ftype: what general.file_type says the bulk of the weights are.
const FILE_TYPE: Record<TensorType, number> = { F32: 0, F16: 1, Q8_0: 7 };

// Values generated per chunk: 1 MiB of float32, a multiple of Q8_0's 32-value block.
const CHUNK_VALUES = 1 << 18;

export function llamaMetadata(name: PresetName, preset: Preset, seed: number, extras: ModelExtras = {}): GgufMetadata {
  const s = preset.shape;
  const vocab = vocabFor(s.nVocab, extras);
  const quantized = preset.weightType === "Q8_0";
  return [
    ["general.architecture", kv.str("llama")],
    ["general.name", kv.str(`warren-${name}`)],
    ["general.alignment", kv.u32(32)],
    ["general.file_type", kv.u32(FILE_TYPE[preset.weightType])],
    ...(quantized ? [["general.quantization_version", kv.u32(2)] as const] : []),
    ["llama.vocab_size", kv.u32(s.nVocab)],
    ["llama.context_length", kv.u32(s.nCtx)],
    ["llama.embedding_length", kv.u32(s.nEmbd)],
    ["llama.block_count", kv.u32(s.nLayer)],
    ["llama.feed_forward_length", kv.u32(s.nFf)],
    ["llama.attention.head_count", kv.u32(s.nHead)],
    ["llama.attention.head_count_kv", kv.u32(s.nHeadKv)],
    ["llama.attention.layer_norm_rms_epsilon", kv.f32(s.rmsEps)],
    ["llama.rope.dimension_count", kv.u32(headDim(s))],
    ["llama.rope.freq_base", kv.f32(s.ropeFreqBase)],
    ["tokenizer.ggml.model", kv.str("llama")],
    ["tokenizer.ggml.tokens", kv.strs(vocab.tokens)],
    ["tokenizer.ggml.scores", kv.f32s(vocab.scores)],
    ["tokenizer.ggml.token_type", kv.i32s(vocab.types)],
    ["tokenizer.ggml.unknown_token_id", kv.u32(UNK_ID)],
    ["tokenizer.ggml.bos_token_id", kv.u32(BOS_ID)],
    ["tokenizer.ggml.eos_token_id", kv.u32(EOS_ID)],
    ["tokenizer.ggml.add_bos_token", kv.bool(true)],
    ["tokenizer.ggml.add_eos_token", kv.bool(false)],
    ["tokenizer.ggml.add_space_prefix", kv.bool(true)],
    ...(extras.chatTemplate !== undefined ? [["tokenizer.chat_template", kv.str(extras.chatTemplate)] as const] : []),
    ...(extras.script ? [["warren.generator.script", kv.strs(extras.script)] as const] : []),
    ["warren.generator.version", kv.i32(GENERATOR_VERSION)],
    ["warren.generator.preset", kv.str(name)],
    ["warren.generator.seed", kv.u32(seed)],
  ];
}

/**
 * Streams one tensor's values, encoded, in CHUNK_VALUES pieces; the first `zeroValues`
 * values are zero (the random stream still advances, so they cost no special casing).
 */
export function* tensorChunks(plan: TensorPlan, type: TensorType, seed: number, zeroValues: number): Generator<Uint8Array> {
  const total = plan.dims.reduce((a, d) => a * d, 1);
  if (plan.kind === "norm") {
    yield encodeF32(new Float32Array(total).fill(1));
    return;
  }
  // One stream per tensor name: a tensor's values do not depend on which tensors precede it.
  const rng = new Xoshiro128(seed, hashString(plan.name));
  const values = new Float32Array(Math.min(total, CHUNK_VALUES));
  const q8 = type === "Q8_0" ? new Uint8Array((values.length / Q8_0_BLOCK) * Q8_0_BYTES) : undefined;
  for (let done = 0; done < total; done += values.length) {
    const part = total - done < values.length ? values.subarray(0, total - done) : values;
    fillNormalish(rng, part, plan.std);
    if (done < zeroValues) part.fill(0, 0, Math.min(part.length, zeroValues - done));
    if (q8) {
      quantizeQ8_0(part, q8);
      yield q8.subarray(0, (part.length / Q8_0_BLOCK) * Q8_0_BYTES);
    } else {
      // F32 chunks are views of `values`: the writer consumes each chunk before asking for
      // the next, so reusing the buffer is safe and saves a copy per chunk.
      yield type === "F16" ? encodeF16(part) : encodeF32(part);
    }
  }
}

export function llamaTensors(preset: Preset, seed: number, script?: readonly string[]): GgufTensorSpec[] {
  // Zero output rows for <unk>, <s>, </s> and the byte tokens: their logit is then exactly 0,
  // below the best of hundreds of random logits, so greedy decoding never emits them (text
  // stays valid UTF-8 and does not stop at once) while sampling still can, rarely.
  const zeroOutput = FIRST_NORMAL_ID * preset.shape.nEmbd;
  const scripted = script ? scriptWeights(preset.shape.nEmbd, preset.shape.nVocab, scriptIds(preset.shape.nVocab, script), seed) : undefined;
  return planTensors(preset.shape).map((plan) => {
    const type: TensorType = plan.kind === "norm" ? "F32" : preset.weightType;
    if (scripted && (plan.name === "token_embd.weight" || plan.name === "output.weight")) {
      const values = plan.name === "output.weight" ? scripted.output : scripted.tokenEmbd;
      return { name: plan.name, dims: plan.dims, type, data: () => encoded(values, type) };
    }
    // A scripted model's layers add nothing to the residual stream (see script.ts).
    const silent = scripted && (plan.name.endsWith("attn_output.weight") || plan.name.endsWith("ffn_down.weight"));
    const zero = silent ? Infinity : plan.name === "output.weight" ? zeroOutput : 0;
    return { name: plan.name, dims: plan.dims, type, data: () => tensorChunks(plan, type, seed, zero) };
  });
}

function* encoded(values: Float32Array, type: TensorType): Generator<Uint8Array> {
  if (type === "F32") yield encodeF32(values);
  else if (type === "F16") yield encodeF16(values);
  else {
    const q8 = new Uint8Array((values.length / Q8_0_BLOCK) * Q8_0_BYTES);
    quantizeQ8_0(values, q8);
    yield q8;
  }
}
