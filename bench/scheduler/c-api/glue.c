// The calls of llama.cpp's C API that pass structs by value, which bun:ffi cannot make itself, as
// plain functions of pointers and numbers. Compiled at run time by bun:ffi's cc (TinyCC).
//
// The declarations below are the layouts of llama.h at the llama.cpp release node-llama-cpp 3.21.1
// bundles (llama/llama.cpp.info.json); glue_check() compares them against the library's defaults
// before anything else is called.
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

struct llama_model;
struct llama_context;

struct llama_model_params {
  void *devices;
  const void *tensor_buft_overrides;
  int32_t n_gpu_layers;
  int32_t split_mode;
  int32_t load_mode;
  int32_t lazy_mode;
  int32_t main_gpu;
  const float *tensor_split;
  void *progress_callback;
  void *progress_callback_user_data;
  const void *kv_overrides;
  bool vocab_only, check_tensors, use_extra_bufts, no_host, no_alloc, load_mtp;
};

struct llama_context_params {
  uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
  int32_t n_threads, n_threads_batch;
  int32_t ctx_type, rope_scaling_type, pooling_type, attention_type, flash_attn_type;
  float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
  uint32_t yarn_orig_ctx;
  float defrag_thold;
  void *cb_eval;
  void *cb_eval_user_data;
  int32_t type_k, type_v;
  void *abort_callback;
  void *abort_callback_data;
  bool embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
  void *samplers;
  size_t n_samplers;
  void *ctx_other;
};

struct llama_batch {
  int32_t n_tokens;
  int32_t *token;
  float *embd;
  int32_t *pos;
  int32_t *n_seq_id;
  int32_t **seq_id;
  int8_t *logits;
};

struct llama_model_params llama_model_default_params(void);
struct llama_context_params llama_context_default_params(void);
struct llama_model *llama_model_load_from_file(const char *path, struct llama_model_params params);
struct llama_context *llama_init_from_model(struct llama_model *model, struct llama_context_params params);
struct llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
void llama_batch_free(struct llama_batch batch);
int32_t llama_decode(struct llama_context *ctx, struct llama_batch batch);

/** 0 when the declared layouts read the library's documented defaults; otherwise which check failed. */
int glue_check(void) {
  struct llama_context_params c = llama_context_default_params();
  struct llama_model_params m = llama_model_default_params();
  if (c.n_ctx != 512 || c.n_batch != 2048 || c.n_ubatch != 512 || c.n_seq_max != 1) return 1;
  if (c.yarn_ext_factor != -1.0f || c.type_k != 1 || c.type_v != 1) return 2;
  if (!c.offload_kqv || !c.op_offload || c.kv_unified || c.embeddings) return 3;
  if (c.samplers != NULL || c.n_samplers != 0 || c.ctx_other != NULL) return 4;
  if (!m.use_extra_bufts || m.vocab_only || m.no_alloc || m.devices != NULL) return 5;
  return 0;
}

/** mmap: 1 maps the file, 0 reads it into memory (node-llama-cpp's useMmap). */
struct llama_model *glue_load_model(const char *path, int mmap) {
  struct llama_model_params m = llama_model_default_params();
  m.n_gpu_layers = 0;
  m.load_mode = mmap ? 1 : 0;
  return llama_model_load_from_file(path, m);
}

/** n_ctx over all sequences; flash: -1 auto, 0 off, 1 on (llama_flash_attn_type). */
struct llama_context *glue_new_context(struct llama_model *model, int n_ctx, int n_batch, int n_seq, int threads, int flash) {
  struct llama_context_params c = llama_context_default_params();
  c.n_ctx = n_ctx;
  c.n_batch = n_batch;
  c.n_ubatch = n_batch;
  c.n_seq_max = n_seq;
  c.n_threads = threads;
  c.n_threads_batch = threads;
  c.flash_attn_type = flash;
  c.no_perf = true;
  c.swa_full = false;
  return llama_init_from_model(model, c);
}

/** One batch, reused: filled through glue_batch_add and handed to llama_decode by glue_decode. */
static struct llama_batch batch;
static int batch_capacity;

void glue_batch_alloc(int capacity) {
  if (batch_capacity > 0) llama_batch_free(batch);
  batch = llama_batch_init(capacity, 0, 1);
  batch_capacity = capacity;
}

void glue_batch_clear(void) { batch.n_tokens = 0; }

/** Adds `n` tokens of sequence `seq` from `pos`; the last one's logits kept when `logits`. Its batch index, or -1 when full. */
int glue_batch_add(int seq, int pos, const int32_t *tokens, int n, int logits) {
  if (batch.n_tokens + n > batch_capacity) return -1;
  for (int i = 0; i < n; i++) {
    int k = batch.n_tokens++;
    batch.token[k] = tokens[i];
    batch.pos[k] = pos + i;
    batch.n_seq_id[k] = 1;
    batch.seq_id[k][0] = seq;
    batch.logits[k] = logits && i == n - 1;
  }
  return batch.n_tokens - 1;
}

int glue_decode(struct llama_context *ctx) { return llama_decode(ctx, batch); }

void llama_log_set(void (*callback)(int level, const char *text, void *user_data), void *user_data);

static void quiet(int level, const char *text, void *user_data) {
  (void)level;
  (void)text;
  (void)user_data;
}

/** Drops llama.cpp's and ggml's log lines (they go to stderr otherwise). */
void glue_quiet(void) { llama_log_set(quiet, NULL); }
