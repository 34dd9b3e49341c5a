/*
 * polca/model.h - models and the samples they are evaluated on.
 *
 * POLCA needs five quantities from a model with parameters theta (a flat
 * float32 vector of P numbers) over a set of N samples:
 *
 *   losses      l_i(theta), every sample's loss              -> [N]
 *   gradient    L = mean_i l_i and grad L                    -> double, [P]
 *   HVP         H v, H the Hessian of L (exact for built-in models) -> [P]
 *   dirderivs   for K directions d_k at once:
 *               g[k][i] = <grad l_i, d_k>                    -> [K][N]
 *               c[k][i] = d_k^T (Hessian of l_i) d_k          -> [K][N]
 *
 * Three kinds of model provide them:
 *
 *   - a built-in decoder-only transformer compatible with TransformerLens's
 *     HookedTransformer (polca_model_create_transformer), computed by the
 *     context's backend (CPU, or CUDA where its kernels exist);
 *   - a built-in MLP softmax classifier on float features
 *     (polca_model_create_mlp), computed on the host in plain C, in double
 *     precision: it is meant for small tests and examples, not for speed;
 *   - a host-defined model (polca_model_create_host): the host supplies
 *     callbacks; derivatives it does not supply are approximated by central
 *     finite differences of the ones it does.
 *
 * Samples live in a polca_data handle made from host arrays (copied):
 *
 *   - token data for the transformer: sequences of token ids and a mask of the
 *     scored positions; each scored position is one sample, its target the
 *     next token, samples numbered in row-major order;
 *   - feature data for the MLP: one float row and one class label per sample;
 *   - index data for a host-defined model: sample numbers into the host's own
 *     sample set, handed back to the callbacks.
 *
 * Arrays: every float/int pointer below is HOST memory. Shapes are given as
 * [rows][columns], row-major. Inputs are copied or only read during the call;
 * outputs are caller-owned and written only on success (untouched on any
 * failure).
 *
 * Numerics: float32 storage; sums over samples and over parameters
 * accumulate in double. Losses are natural-log cross-entropies. A sample's
 * per-sample results may differ in the last bits with the batch it is
 * evaluated in (the BLAS a backend uses may round a matrix product's rows
 * differently with its size; docs/transformer_kernels.md, "Numerics").
 *
 * Threads: a context, its models and its data are used by one thread at a
 * time (no two calls on handles of one context may run at once, and a
 * host-model callback runs on the calling thread). Separate contexts are
 * independent.
 *
 * Every handle belongs to the context it was created in; combining a model
 * and data of different contexts fails with POLCA_ERR_WRONG_CONTEXT.
 */
#ifndef POLCA_MODEL_H
#define POLCA_MODEL_H

#include "polca/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Data: the samples a model is evaluated on ========================== */

typedef struct polca_data polca_data;

/*
 * Token data for the transformer.
 *   tokens: [n_seq][n_ctx] int32, token ids >= 0 (checked against the
 *           model's d_vocab when used with a model: POLCA_ERR_INVALID_ARGUMENT
 *           naming the sequence and position of the first id >= d_vocab)
 *   mask:   [n_seq][n_ctx] uint8, nonzero = position scored (its target is
 *           the token at the next position); the last position of a
 *           sequence has no next token and must not be set. NULL = every
 *           position but the last is scored.
 * Samples are the scored positions in row-major order: sample 0 is the first
 * scored position of sequence 0. At least one position must be scored.
 * n_ctx may be smaller than the model's n_ctx (the sequences are padded
 * internally; attention is causal, so the results are those of the short
 * sequences), never larger (POLCA_ERR_INVALID_ARGUMENT when used).
 * Both arrays are copied. out: the new handle; destroy with polca_data_destroy.
 */
POLCA_API int32_t polca_data_create_tokens(polca_context *ctx, int64_t n_seq, int64_t n_ctx,
                                           const int32_t *tokens, const uint8_t *mask,
                                           polca_data **out);

/*
 * Feature data for the MLP: n samples of n_features floats and a class label.
 *   features: [n][n_features] float32, finite (POLCA_ERR_NOT_FINITE naming
 *             the index otherwise)
 *   labels:   [n] int32, >= 0 (checked against the model's n_classes when
 *             used with a model)
 * Copied. Each sample is also its own "sequence" (polca_data_n_seq == n).
 */
POLCA_API int32_t polca_data_create_features(polca_context *ctx, int64_t n, int64_t n_features,
                                             const float *features, const int32_t *labels,
                                             polca_data **out);

/*
 * Index data for a host-defined model whose sample set has n_total samples
 * (the n_samples given to polca_model_create_host).
 *   indices: [n] int64, each in [0, n_total), repeats allowed; sample i of
 *            this data is the host's sample indices[i]. NULL = all samples in
 *            order (n must then equal n_total).
 * Copied. Each sample is its own "sequence".
 */
POLCA_API int32_t polca_data_create_indices(polca_context *ctx, int64_t n_total, int64_t n,
                                            const int64_t *indices, polca_data **out);

/* NULL or an already destroyed handle is a no-op. */
POLCA_API void polca_data_destroy(polca_data *data);

/* Number of samples N (scored positions, feature rows, or indices). */
POLCA_API int32_t polca_data_n_samples(const polca_data *data, int64_t *out);
/* Number of sequences (token data) or samples (feature and index data). */
POLCA_API int32_t polca_data_n_seq(const polca_data *data, int64_t *out);

/*
 * Where sample `sample` (0..N-1) sits: out_seq receives its sequence (or
 * row) and out_pos its position in the sequence (0 for feature and index
 * data). Either output may be NULL.
 */
POLCA_API int32_t polca_data_sample_at(const polca_data *data, int64_t sample, int64_t *out_seq,
                                       int64_t *out_pos);

/*
 * A new data handle made of the sequences seq[0..n-1] of `data` (any order,
 * repeats allowed), with their masks: sequence j of the result is sequence
 * seq[j] of data. For feature and index data a sequence is a sample. Use it
 * to draw a basis sample set. The result belongs to data's context.
 */
POLCA_API int32_t polca_data_subset_sequences(const polca_data *data, int64_t n,
                                              const int64_t *seq, polca_data **out);

/*
 * A new data handle made of the samples sample[0..n-1] of `data`, given in
 * strictly increasing order (so they keep their relative numbering). Token
 * data keeps the sequences that hold a chosen sample, with only the chosen
 * positions scored.
 */
POLCA_API int32_t polca_data_subset_samples(const polca_data *data, int64_t n,
                                            const int64_t *sample, polca_data **out);

/* ==== Models ============================================================= */

typedef struct polca_model polca_model;

/*
 * Built-in decoder-only transformer. With the default options it is
 * TransformerLens 2/3's HookedTransformer: token embedding plus learned
 * positional embedding; n_layers pre-LayerNorm blocks (LayerNorm eps 1e-5
 * with weight and bias) of causal multi-head attention scaled by
 * 1/sqrt(d_head) and, unless d_mlp is 0, an MLP; a final LayerNorm; an
 * untied unembedding with bias. Switches (below) make it GPT-2, GPT-NeoX
 * (Pythia) or Llama-style (Llama, Qwen2, Mistral): one model with options,
 * every combination exact in all five computations. Loss: cross-entropy of
 * each scored position's next token. polca_model_create_pretrained makes one
 * from a Hugging Face or TransformerLens checkpoint with these options set.
 *
 * Options (NULL is not allowed: the sizes have no defaults):
 *   "n_layers"   int    >= 1, required
 *   "d_model"    int    >= 1, required
 *   "n_heads"    int    >= 1, required
 *   "d_head"     int    >= 1, default d_model / n_heads (n_heads must divide
 *                       d_model when d_head is not given)
 *   "d_mlp"      int    >= 0, default 4 * d_model; 0 = attention-only (no MLP
 *                       and no ln2 in the blocks)
 *   "d_vocab"    int    >= 2, required
 *   "n_ctx"      int    >= 2, required: the longest sequence (the rows of
 *                       W_pos when positions are learned)
 *   "act_fn"     string "gelu" (exact, erf), "gelu_new" (tanh
 *                       approximation), "relu" or "silu" (x sigmoid(x));
 *                       default "gelu_new"
 *   Switches (defaults: TransformerLens 2/3):
 *   "n_kv_heads" int    key/value heads, dividing n_heads (grouped-query
 *                       attention: query head h reads kv head
 *                       h / (n_heads / n_kv_heads)); default n_heads
 *   "norm"       string "layernorm" (default), "layernorm_nobias" or
 *                       "rmsnorm" (x / sqrt(mean(x^2) + eps) * w); every
 *                       norm of the model
 *   "norm_eps"   double > 0, default 1e-5
 *   "positions"  string "learned" (default: W_pos), "rotary" (rotate-half on
 *                       q and k, as GPT-NeoX and Llama) or "none"
 *   "rotary_dim" int    rotary only: the rotated dims of each head, even,
 *                       2..d_head (Pythia's rotary_pct * d_head); default
 *                       d_head
 *   "rope_theta" double rotary base, > 0, default 10000
 *   "qkv_bias"   int    0 or 1: b_Q, b_K, b_V exist; default 1
 *   "out_bias"   int    0 or 1: b_O exists; default 1
 *   "mlp_bias"   int    0 or 1: b_in and b_out exist; default 1
 *   "mlp_gated"  int    0 or 1: the MLP is act(x W_gate) * (x W_in + b_in)
 *                       (SwiGLU with silu); default 0
 *   "parallel_residual" int 0 or 1: x + attn(ln1 x) + mlp(ln2 x) in one step
 *                       (GPT-NeoX); default 0 (sequential); needs an MLP
 *   "tied_embeddings"   int 0 or 1: no W_U, logits = x W_E^T (GPT-2); the one
 *                       W_E gets both uses' gradient and curvature; default 0
 *   "unembed_bias" int  0 or 1: b_U exists; default 1
 * Every size is at most 2^24 and every tensor under 2^31 elements
 * (POLCA_ERR_INVALID_ARGUMENT naming the option otherwise).
 * Parameters: tensors named and shaped as in TransformerLens's state_dict
 * (embed.W_E [d_vocab, d_model], pos_embed.W_pos [n_ctx, d_model],
 * blocks.0.ln1.w, blocks.0.attn.W_Q [n_heads, d_model, d_head], ...,
 * unembed.W_U [d_model, d_vocab], unembed.b_U [d_vocab]); a switch that
 * removes a tensor removes its name; grouped-query K and V are
 * attn._W_K/_W_V/_b_K/_b_V [n_kv_heads, ...] and the gate is mlp.W_gate
 * [d_model, d_mlp], as TransformerLens names them. Query them with
 * polca_model_tensor_info. Without learned positions, data shorter than
 * n_ctx is computed at its own length (no padding cost). The context's
 * backend computes: a backend without the transformer kernels, or without a
 * switch the model uses (docs/gpu.md says which the CUDA module has), makes
 * the five computations fail with POLCA_ERR_UNSUPPORTED naming it.
 */
POLCA_API int32_t polca_model_create_transformer(polca_context *ctx,
                                                 const polca_options *options,
                                                 polca_model **out);

/*
 * Built-in MLP classifier: n_features inputs, hidden layers, n_classes
 * logits, softmax cross-entropy loss against the sample's label. Computed on
 * the host in double precision (plain C, whatever the context's backend):
 * for small tests and examples. Derivatives are exact: the HVP by
 * forward-over-reverse, g and c by first- and second-order forward mode.
 *
 * Options (NULL is not allowed):
 *   "n_features" int    >= 1, required
 *   "n_classes"  int    >= 2, required
 *   "hidden"     string comma-separated hidden layer widths (each 1..2^24,
 *                       at most 64 layers), e.g. "32,16"; default "" (no
 *                       hidden layer: softmax regression)
 *   "activation" string "tanh" (default), "relu" or "gelu" (exact, erf)
 * Parameters, layer l = 0..n_hidden (the last one maps to the logits):
 * "layers.<l>.W" [fan_in, fan_out] (applied as x W) then "layers.<l>.b"
 * [fan_out].
 */
POLCA_API int32_t polca_model_create_mlp(polca_context *ctx, const polca_options *options,
                                         polca_model **out);

/*
 * Host-defined model with n_params parameters over a sample set of
 * n_samples samples. Set its callbacks with the polca_model_set_*_callback
 * functions below (the loss and gradient callbacks are required before any
 * computation: POLCA_ERR_STATE otherwise). It is evaluated on index data
 * (polca_data_create_indices with n_total = n_samples). Its layout is one
 * tensor "theta" [n_params] until polca_model_set_host_layout names its
 * tensors.
 *
 * Options (NULL for defaults):
 *   "fd_step"  double in (0, 1), default 1e-3: relative step of the first
 *              differences that stand in for missing derivative callbacks
 *   "fd_step2" double in (0, 1), default 1e-2: relative step of the second
 *              differences of losses (c without c and g callbacks)
 * (see polca_model_set_hvp_callback for the formulas).
 */
POLCA_API int32_t polca_model_create_host(polca_context *ctx, int64_t n_params,
                                          int64_t n_samples, const polca_options *options,
                                          polca_model **out);

/*
 * Names the tensors that make up a host-defined model's parameter vector,
 * replacing its layout (one tensor "theta" [n_params]) by n_tensors named
 * tensors, back to back in the order given (tensor i: names[i], ndims[i]
 * dimensions 0..POLCA_MODEL_MAX_DIMS, shape the first ndims[i] entries of
 * shapes[i * POLCA_MODEL_MAX_DIMS ...], each >= 1). Then the checks that
 * keep vectors of different layouts apart apply to the host's parameters
 * as to a built-in model's: checkpoint series created from the model carry
 * this layout; a series of another layout (polca_basis_create_hessian,
 * polca_trajectories_create) is POLCA_ERR_LAYOUT_MISMATCH naming the first
 * tensor that differs; safetensors files are read by these names
 * (polca_model_load_safetensors, polca_checkpoints_import_safetensors).
 * Names are 1..127 bytes and distinct; the tensors' sizes must add up to
 * n_params. POLCA_ERR_INVALID_ARGUMENT naming the culprit otherwise, or for
 * a model that is not host-defined; on failure the layout is unchanged.
 * Names from polca_model_tensor_info of the earlier layout are invalid
 * once this succeeds.
 */
POLCA_API int32_t polca_model_set_host_layout(polca_model *model, int64_t n_tensors,
                                              const char *const *names, const int32_t *ndims,
                                              const int64_t *shapes);

/* NULL or an already destroyed handle is a no-op. */
POLCA_API void polca_model_destroy(polca_model *model);

/* "transformer", "mlp" or "host" (static text). */
POLCA_API int32_t polca_model_kind(const polca_model *model, const char **out_name);

/* ---- Host-defined model callbacks ----
 *
 * Every callback receives:
 *   user     the pointer given with it
 *   theta    [n_params] the parameters (read-only, valid during the call)
 *   n        number of samples >= 1
 *   samples  [n] the host's sample numbers (0..n_samples-1, from the index
 *            data; repeats possible)
 * and returns 0 on success. Any other value makes the libpolca call fail
 * with POLCA_ERR_BACKEND, the message naming the callback and the value
 * returned, and leaves that call's outputs untouched. Outputs are
 * libpolca-owned buffers the callback fills completely. Callbacks run on the
 * calling thread, and may call libpolca on other handles.
 */

/* out losses[n]: every sample's loss. Required. */
typedef int32_t (*polca_loss_fn)(void *user, const float *theta, int64_t n,
                                 const int64_t *samples, float *losses);
/* out *mean_loss: the mean of the n losses; out grad[n_params]: its gradient.
 * Required. */
typedef int32_t (*polca_grad_fn)(void *user, const float *theta, int64_t n,
                                 const int64_t *samples, double *mean_loss, float *grad);
/* v[n_params]; out hv[n_params]: H v, H the Hessian of the mean loss over the
 * n samples. */
typedef int32_t (*polca_hvp_fn)(void *user, const float *theta, int64_t n,
                                const int64_t *samples, const float *v, float *hv);
/* dirs[k][n_params]; out g[k][n] (first directional derivatives, see the top
 * of this header) or c[k][n] (second directional derivatives). */
typedef int32_t (*polca_dirderiv_fn)(void *user, const float *theta, int64_t n,
                                     const int64_t *samples, int64_t k, const float *dirs,
                                     float *out);

/* Required; fn NULL unsets it. Fails with POLCA_ERR_INVALID_ARGUMENT on a
 * model that is not host-defined. */
POLCA_API int32_t polca_model_set_loss_callback(polca_model *model, polca_loss_fn fn,
                                                void *user);
POLCA_API int32_t polca_model_set_grad_callback(polca_model *model, polca_grad_fn fn,
                                                void *user);

/*
 * Optional derivative callbacks (fn NULL = not provided). Without one,
 * libpolca uses central finite differences of what it has. For a direction
 * d (v, or one d_k at a time) the step is
 *   h = s * max(1, rms(theta)) / ||d||_2,   rms(x) = ||x||_2 / sqrt(n_params),
 * with s = fd_step, or fd_step2 where marked; a zero direction gives zeros.
 * The perturbation h d thus has length s * max(1, rms(theta)) whatever
 * n_params is (an earlier rule divided by rms(d), a length growing as
 * sqrt(n_params): c was off by 45-82% at 1.3e5 parameters).
 *
 *   HVP (no hvp callback):   H v ~ (grad L(theta + h v) - grad L(theta - h v)) / (2h)
 *                            2 gradient calls
 *   g   (no g callback):     g_i ~ (l_i(theta + h d) - l_i(theta - h d)) / (2h)
 *                            2 loss calls per direction
 *   c   (no c callback, g callback given):
 *                            c_i ~ (g_i(theta + h d) - g_i(theta - h d)) / (2h)
 *                            2 g calls (one direction each) per direction
 *   c   (neither c nor g callback), h from fd_step2:
 *                            c_i ~ (l_i(theta + h d) - 2 l_i(theta) + l_i(theta - h d)) / h^2
 *                            2 loss calls per direction (shared with g's
 *                            when fd_step2 == fd_step) and 1 at theta
 *
 * Error order: each formula's truncation error is O(h^2) (second order):
 * halving the step divides it by about 4. Rounding adds about eps * |f| / h
 * to the first-difference forms and eps * |l| / h^2 to the last, eps being
 * the relative precision of the callbacks' results (float32: 6e-8), and the
 * perturbed parameters are rounded to float32. The defaults balance the two
 * for float32 callbacks. Measured relative errors against the built-in
 * MLP's exact derivatives: with 45 parameters (tests/test_model_host.c)
 * ~1e-4 for the HVP, g and c from g, ~4e-3 for c from losses; with 1.3e5
 * parameters and top-Hessian-eigenvector directions (tests/
 * test_model_host_fd_scale.c) ~4e-4 for the HVP (random v), ~5e-5 for g,
 * ~2e-5 for c from g, ~1e-3 for c from losses. Exact callbacks avoid all
 * of this.
 */
POLCA_API int32_t polca_model_set_hvp_callback(polca_model *model, polca_hvp_fn fn, void *user);
POLCA_API int32_t polca_model_set_dirderiv_callback(polca_model *model, polca_dirderiv_fn fn,
                                                    void *user);
POLCA_API int32_t polca_model_set_second_dirderiv_callback(polca_model *model,
                                                           polca_dirderiv_fn fn, void *user);

/* ---- Parameter layout ---- */

/* The most dimensions a parameter tensor has. */
#define POLCA_MODEL_MAX_DIMS 4

/* P, the length of the flat parameter vector. */
POLCA_API int32_t polca_model_n_params(const polca_model *model, int64_t *out);
/* Number of named tensors that make up the parameter vector. */
POLCA_API int32_t polca_model_n_tensors(const polca_model *model, int64_t *out);

/*
 * Tensor `index` (0..n_tensors-1, in offset order). Any output may be NULL.
 *   out_name:   UTF-8 name, valid while the model lives (a host model's:
 *               until polca_model_set_host_layout replaces its layout)
 *   out_ndim:   0..POLCA_MODEL_MAX_DIMS
 *   out_shape:  [POLCA_MODEL_MAX_DIMS] caller-owned; the first ndim entries
 *               are written, the rest set to 1
 *   out_offset: index of its first element in theta (row-major within)
 */
POLCA_API int32_t polca_model_tensor_info(const polca_model *model, int64_t index,
                                          const char **out_name, int32_t *out_ndim,
                                          int64_t *out_shape, int64_t *out_offset);

/* Index of the tensor called `name`; POLCA_ERR_INVALID_ARGUMENT naming it
 * when the model has none. */
POLCA_API int32_t polca_model_find_tensor(const polca_model *model, const char *name,
                                          int64_t *out_index);

/* ---- Parameters: initialization and files ---- */

/*
 * Seeded initialization into out theta[P] (caller-owned).
 *   transformer: TransformerLens's default ("gpt2") scheme: every weight
 *                matrix (W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_gate, W_out, W_U)
 *                from N(0, (0.8 / sqrt(d_model))^2), biases 0, LayerNorm
 *                weights 1 and biases 0;
 *   MLP:         W and b uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)], as
 *                PyTorch's nn.Linear.
 * The random numbers come from libpolca's own generator (splitmix64 seeded
 * with `seed`), not torch's: the same distributions, other values than
 * torch.manual_seed(seed). Same seed and configuration -> same values
 * (bit for bit for the MLP; the transformer's normal draws go through the C
 * library's log, cos and sin, which may round differently on another
 * platform).
 * POLCA_ERR_UNSUPPORTED for a host-defined model (the host initializes it).
 */
POLCA_API int32_t polca_model_init(const polca_model *model, uint64_t seed, float *theta);

/*
 * Reads every parameter tensor of the model from a safetensors file into
 * out theta[P] (caller-owned; untouched on failure). Tensors are found by
 * name (TransformerLens state_dict names for the transformer) and must have
 * the model's shape; F32, F16, BF16 and F64 are converted to float32.
 * Buffers that are not parameters (names ending in "attn.mask" or
 * "attn.IGNORE") are ignored. A missing tensor, a tensor of another shape,
 * or any other tensor the model does not have fails with
 * POLCA_ERR_LAYOUT_MISMATCH naming it. Values are not checked for NaN/Inf.
 */
POLCA_API int32_t polca_model_load_safetensors(const polca_model *model, const char *path,
                                               float *theta);

/*
 * Writes theta[P] to a safetensors file, one F32 tensor per parameter
 * tensor with its name and shape, atomically (a temporary file, then
 * rename): on failure nothing is written at path. Values are written as
 * they are (NaN/Inf included).
 */
POLCA_API int32_t polca_model_save_safetensors(const polca_model *model, const char *path,
                                               const float *theta);

/* ---- Checkpoints in the layouts users have ----
 *
 * A checkpoint is a .safetensors file, or a directory as Hugging Face
 * save_pretrained writes it: config.json (optional) and model.safetensors, or
 * shards model-0000x-of-0000y.safetensors with model.safetensors.index.json
 * (the index may also be given itself). A file may have a config.json beside
 * it, which is read. pytorch_model.bin (a PyTorch pickle) is not read:
 * POLCA_ERR_UNSUPPORTED saying to save with safe_serialization=True.
 *
 * Layouts (names of "format"), detected from the tensor names:
 *   "transformerlens"  TransformerLens 2/3 HookedTransformer state_dict and
 *                      TransformerBridge.get_params() (embed.W_E, ...): the
 *                      built-in names and shapes
 *   "transformerlens4" TransformerLens 4 TransformerBridge.state_dict() over a
 *                      GPT-2 (embed.weight, blocks.0.attn.q.weight, ...)
 *   "gpt2"             GPT2LMHeadModel ("transformer." prefix) or GPT2Model
 *   "gpt_neox"         GPTNeoXForCausalLM ("gpt_neox." prefix) (Pythia)
 *   "llama"            LlamaForCausalLM ("model." prefix)
 *   "qwen2"            Qwen2ForCausalLM (the Llama layout with q/k/v biases)
 * docs/models.md has the tensor-by-tensor mapping. The conversion is exact:
 * permutations, transposes and splits of fused tensors (GPT-2's c_attn,
 * GPT-NeoX's query_key_value), no arithmetic, so saving what was loaded
 * gives the same bits back.
 *
 * The configuration comes from config.json when there is one (GPT-2:
 * n_layer, n_embd, n_head, n_inner, n_positions, activation_function,
 * layer_norm_epsilon, tie_word_embeddings; GPT-NeoX: hidden_act, rotary_pct
 * or rope_parameters.partial_rotary_factor -> rotary_dim = int(d_head *
 * fraction), rotary_emb_base / rope_theta / rope_parameters.rope_theta,
 * use_parallel_residual, layer_norm_eps, max_position_embeddings -> n_ctx;
 * Llama and Qwen2: num_key_value_heads, head_dim, rms_norm_eps, rope_theta,
 * partial_rotary_factor, max_position_embeddings -> n_ctx), the sizes and
 * the presence of biases and of an untied output matrix from the tensor
 * shapes. Without config.json the shapes give the sizes; what they cannot
 * give takes the family's default (listed in polca_model_describe's
 * "notes"), and the number of heads of GPT-2, GPT-NeoX, Llama and Qwen2 must
 * then be given as option "n_heads". Keys that change the function and are
 * not supported give POLCA_ERR_UNSUPPORTED naming the key: a non-default
 * rope_scaling or rope_parameters.rope_type, GPT-2's
 * scale_attn_by_inverse_layer_idx true, scale_attn_weights false or
 * add_cross_attention true, Llama's mlp_bias true, Qwen2's sliding-window
 * attention (Mistral's sliding_window), query/key norms (OLMo-2), an
 * unknown activation or model_type (known: gpt2, gpt_neox, llama, mistral,
 * qwen2).
 * (GPT-2's reorder_and_upcast_attn and Llama's pretraining_tp only change
 * the order of float operations and are accepted.)
 */

/*
 * A built-in transformer (polca_model_create_transformer) configured from a
 * checkpoint at path (file or directory, above). Options (NULL for none):
 *   "format"  string  force a layout instead of detecting it
 *   and every option of polca_model_create_transformer, overriding what the
 *   checkpoint implies (e.g. "n_ctx" for a rotary model, whose sequence
 *   length is not in its tensors: default max_position_embeddings;
 *   "n_heads" where there is no config.json).
 * Every tensor of the layout must be there with the configuration's shape,
 * and nothing else but known buffers (attn.bias, attn.masked_bias,
 * rotary_emb.inv_freq, attn.mask, attn.IGNORE, a tied lm_head.weight):
 * POLCA_ERR_LAYOUT_MISMATCH naming the tensor and file otherwise. An
 * unrecognised file: POLCA_ERR_LAYOUT_MISMATCH naming the layouts tried and
 * its first tensor names. A missing shard: POLCA_ERR_IO naming it. The
 * parameters are not read: polca_model_load_pretrained reads them.
 */
POLCA_API int32_t polca_model_create_pretrained(polca_context *ctx, const char *path,
                                                const polca_options *options,
                                                polca_model **out);

/*
 * The source layout of a transformer (static text): one of the "format"
 * names above, or "native" for polca_model_create_transformer models (whose
 * files use the built-in names, as "transformerlens").
 * POLCA_ERR_INVALID_ARGUMENT for an MLP or host-defined model.
 */
POLCA_API int32_t polca_model_source_format(const polca_model *model, const char **out_name);

/*
 * A transformer's configuration as JSON (UTF-8, valid while the model lives):
 *   {"format": "gpt2", "path": "...", "config": ".../config.json" or null,
 *    "options": {"n_layers": 2, ...}, "notes": ["...", ...]}
 * "options" are polca_model_create_transformer's options that make the same
 * model (every one, defaults included); "notes" say which values were
 * defaults rather than read (empty for native models, whose path and config
 * are null).
 */
POLCA_API int32_t polca_model_describe(const polca_model *model, const char **out_json);

/*
 * Reads parameters from a checkpoint (file or directory, above) into out
 * theta[P] (untouched on failure): the checkpoint's layout is detected (the
 * model's source layout when none is recognised), so a model created from a
 * GPT-2 directory reads other GPT-2 checkpoints, and any transformer reads
 * files in the built-in names. F32, F16, BF16 and F64 become float32. A
 * missing tensor, one of another shape, or one the layout does not have
 * (buffers aside): POLCA_ERR_LAYOUT_MISMATCH naming it and the file. Works
 * for any vector saved by polca_model_save_pretrained (a direction, a
 * gradient).
 */
POLCA_API int32_t polca_model_load_pretrained(const polca_model *model, const char *path,
                                              float *theta);

/*
 * Writes any parameter-space vector[P] (parameters, a basis direction, a
 * gradient) as a safetensors file at path in the model's SOURCE layout:
 * its tensor names and shapes (Hugging Face's for a model created from a
 * Hugging Face checkpoint), F32, one tensor per parameter (a tied
 * embedding once, as named_parameters() lists it), metadata {"format":
 * "pt"}, atomically (nothing at path on failure). In PyTorch,
 * safetensors.torch.load_file(path) is then a state_dict delta for
 * model.load_state_dict(..., strict=False) or for adding to the
 * parameters. path must be a file name, not a directory.
 */
POLCA_API int32_t polca_model_save_pretrained(const polca_model *model, const char *path,
                                              const float *vector);

/* ---- The five quantities ----
 *
 * All take the model, data of the model's kind (token data for the
 * transformer, feature data for the MLP, index data for a host-defined
 * model; POLCA_ERR_INVALID_ARGUMENT otherwise) from the same context, and
 * theta[P]. N = polca_data_n_samples(data). NaN or Inf in theta, v or dirs
 * fails with POLCA_ERR_NOT_FINITE naming the argument and the first bad
 * index.
 */

/* out losses[N]: l_i(theta). */
POLCA_API int32_t polca_model_losses(const polca_model *model, const polca_data *data,
                                     const float *theta, float *losses);

/* out *mean_loss (may be NULL): mean_i l_i(theta); out grad[P]: its
 * gradient. */
POLCA_API int32_t polca_model_grad(const polca_model *model, const polca_data *data,
                                   const float *theta, double *mean_loss, float *grad);

/* v[P]; out hv[P] = H v, H the Hessian of the mean loss over the samples of
 * data (exact forward-over-reverse for built-in models). */
POLCA_API int32_t polca_model_hvp(const polca_model *model, const polca_data *data,
                                  const float *theta, const float *v, float *hv);

/*
 * For k >= 1 directions dirs[k][P] (any length; not normalized):
 *   out g[k][N]: g[j][i] = <grad l_i(theta), dirs[j]>
 *   out c[k][N]: c[j][i] = dirs[j]^T (Hessian of l_i at theta) dirs[j];
 *                NULL = not computed (cheaper)
 *   out losses[N]: l_i(theta), or NULL
 * Built-in models share one primal pass across the k directions (exact
 * first- and second-order forward mode).
 */
POLCA_API int32_t polca_model_dirderivs(const polca_model *model, const polca_data *data,
                                        const float *theta, int64_t k, const float *dirs,
                                        float *losses, float *g, float *c);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_MODEL_H */
