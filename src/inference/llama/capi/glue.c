// What bun:ffi cannot call on llama.cpp's C API by itself: the functions that take or return structs
// by value, and the sampling step, which walks candidate arrays. Compiled when an engine loads, by
// bun:ffi's cc (TinyCC), and linked against the libllama node-llama-cpp ships.
//
// No #include: a machine without C headers must compile it too. The declarations below are the
// layouts of llama.h at the llama.cpp release node-llama-cpp 3.21.1 bundles
// (node_modules/node-llama-cpp/llama/llama.cpp.info.json); glue_check() reads the library's own
// defaults through them before anything else runs, and refuses to go on when they disagree.

typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long size_t;
typedef signed char int8_t;
typedef _Bool bool;
#define NULL ((void *)0)

struct llama_model;
struct llama_context;
struct llama_vocab;
struct llama_sampler;

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

struct llama_sampler_chain_params {
  bool no_perf;
};

struct llama_token_data {
  int32_t id;
  float logit;
  float p;
};

struct llama_token_data_array {
  struct llama_token_data *data;
  size_t size;
  int64_t selected;
  bool sorted;
};

struct llama_model_params llama_model_default_params(void);
struct llama_context_params llama_context_default_params(void);
struct llama_sampler_chain_params llama_sampler_chain_default_params(void);
struct llama_model *llama_model_load_from_file(const char *path, struct llama_model_params params);
struct llama_context *llama_init_from_model(struct llama_model *model, struct llama_context_params params);
struct llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
void llama_batch_free(struct llama_batch batch);
int32_t llama_decode(struct llama_context *ctx, struct llama_batch batch);
struct llama_sampler *llama_sampler_chain_init(struct llama_sampler_chain_params params);
void llama_sampler_apply(struct llama_sampler *smpl, struct llama_token_data_array *cur_p);
void llama_sampler_accept(struct llama_sampler *smpl, int32_t token);
float *llama_get_logits_ith(struct llama_context *ctx, int32_t i);
bool llama_vocab_is_eog(const struct llama_vocab *vocab, int32_t token);
void llama_log_set(void (*callback)(int level, const char *text, void *user_data), void *user_data);

/** 0 when the declared layouts read the library's documented defaults; otherwise which check failed. */
int glue_check(void) {
  struct llama_context_params c = llama_context_default_params();
  struct llama_model_params m = llama_model_default_params();
  struct llama_sampler_chain_params s = llama_sampler_chain_default_params();
  if (c.n_ctx != 512 || c.n_batch != 2048 || c.n_ubatch != 512 || c.n_seq_max != 1) return 1;
  if (c.yarn_ext_factor != -1.0f || c.type_k != 1 || c.type_v != 1) return 2;
  if (!c.offload_kqv || !c.op_offload || c.kv_unified || c.embeddings) return 3;
  if (c.samplers != NULL || c.n_samplers != 0 || c.ctx_other != NULL) return 4;
  if (!m.use_extra_bufts || m.vocab_only || m.no_alloc || m.devices != NULL) return 5;
  if (!s.no_perf) return 6;
  return 0;
}

static void quiet(int level, const char *text, void *user_data) {
  (void)level;
  (void)text;
  (void)user_data;
}

/** Drops llama.cpp's and ggml's log lines (stderr otherwise), as node-llama-cpp's error level does for what matters here. */
void glue_quiet(void) { llama_log_set(quiet, NULL); }

/** mmap: 1 maps the file, 0 reads it into memory. */
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
  c.no_perf = 1;
  c.swa_full = 0;
  return llama_init_from_model(model, c);
}

struct llama_sampler *glue_chain_new(void) { return llama_sampler_chain_init(llama_sampler_chain_default_params()); }

// A batch lives in memory its caller owns (glue_batch_size bytes): no allocator is linked here.
int glue_batch_size(void) { return sizeof(struct llama_batch) + sizeof(int32_t); }

void glue_batch_init(void *mem, int capacity) {
  *(struct llama_batch *)mem = llama_batch_init(capacity, 0, 1);
  *(int32_t *)((char *)mem + sizeof(struct llama_batch)) = capacity;
}

void glue_batch_free(void *mem) { llama_batch_free(*(struct llama_batch *)mem); }

void glue_batch_clear(void *mem) { ((struct llama_batch *)mem)->n_tokens = 0; }

/**
 * Adds `n` tokens of sequence `seq` from position `pos`; the last one's logits are kept when
 * `logits`. Returns the batch index of the last token, or -1 when they do not fit.
 */
int glue_batch_add(void *mem, int seq, int pos, const int32_t *tokens, int n, int logits) {
  struct llama_batch *b = (struct llama_batch *)mem;
  int capacity = *(int32_t *)((char *)mem + sizeof(struct llama_batch));
  if (n <= 0 || b->n_tokens + n > capacity) return -1;
  for (int i = 0; i < n; i++) {
    int k = b->n_tokens++;
    b->token[k] = tokens[i];
    b->pos[k] = pos + i;
    b->n_seq_id[k] = 1;
    b->seq_id[k][0] = seq;
    b->logits[k] = logits && i == n - 1;
  }
  return b->n_tokens - 1;
}

int glue_decode(struct llama_context *ctx, void *mem) { return llama_decode(ctx, *(struct llama_batch *)mem); }

static void candidates(struct llama_token_data_array *cur, struct llama_token_data *buf, const float *logits, int n_vocab) {
  for (int t = 0; t < n_vocab; t++) {
    buf[t].id = t;
    buf[t].logit = logits[t];
    buf[t].p = 0.0f;
  }
  cur->data = buf;
  cur->size = n_vocab;
  cur->selected = -1;
  cur->sorted = 0;
}

/**
 * One token from the logits at batch index `idx`, the way node-llama-cpp 3.21.1's sampler draws it:
 * the chain alone, and when a grammar is set and rejects its pick, the grammar first and then the
 * chain again on fresh candidates; with `grammar_first`, always the grammar first (its choice when
 * the distribution is wanted). Then the token is accepted by the penalties and, unless it ends
 * generation, by the grammar. `buf` holds n_vocab candidates. When `out_ids` is set, the candidates
 * left after the chain are copied out (ids and logits, count in *out_count) for their distribution.
 * Returns the token, or -1 when no candidate was left.
 */
int glue_sample(struct llama_context *ctx, int idx, struct llama_sampler *chain, struct llama_sampler *penalties,
                struct llama_sampler *grammar, const struct llama_vocab *vocab, struct llama_token_data *buf, int n_vocab,
                int grammar_first, int32_t *out_ids, float *out_logits, int32_t *out_count) {
  const float *logits = llama_get_logits_ith(ctx, idx);
  if (out_count) *out_count = 0;
  if (logits == NULL) return -1;
  struct llama_token_data_array cur;
  candidates(&cur, buf, logits, n_vocab);
  if (grammar != NULL && grammar_first) {
    llama_sampler_apply(grammar, &cur);
    llama_sampler_apply(chain, &cur);
  } else {
    llama_sampler_apply(chain, &cur);
    if (grammar != NULL && cur.selected >= 0 && cur.selected < (int64_t)cur.size) {
      struct llama_token_data single = {cur.data[cur.selected].id, 1.0f, 0.0f};
      struct llama_token_data_array one = {&single, 1, -1, 0};
      llama_sampler_apply(grammar, &one);
      if (!(single.logit > -1e30f)) {
        candidates(&cur, buf, logits, n_vocab);
        llama_sampler_apply(grammar, &cur);
        llama_sampler_apply(chain, &cur);
      }
    }
  }
  if (cur.size == 0 || !(cur.selected >= 0 && cur.selected < (int64_t)cur.size)) return -1;
  int token = cur.data[cur.selected].id;
  if (out_ids != NULL) {
    for (size_t i = 0; i < cur.size; i++) {
      out_ids[i] = cur.data[i].id;
      out_logits[i] = cur.data[i].logit;
    }
    *out_count = (int32_t)cur.size;
  }
  if (penalties != NULL) llama_sampler_accept(penalties, token);
  if (grammar != NULL && !llama_vocab_is_eog(vocab, token)) llama_sampler_accept(grammar, token);
  return token;
}

/** Whether `grammar` allows `token` next (the test node-llama-cpp's canBeNextTokenForGrammarEvaluationState makes). */
int glue_grammar_allows(struct llama_sampler *grammar, int token) {
  struct llama_token_data single = {token, 1.0f, 0.0f};
  struct llama_token_data_array one = {&single, 1, -1, 0};
  llama_sampler_apply(grammar, &one);
  return single.logit > -1e30f;
}
