/*
 * src/pretrained.h - checkpoints in the layouts users have (TransformerLens
 * 2/3 and 4, Hugging Face GPT-2, GPT-NeoX, Llama, Qwen2): opening a file or
 * a save_pretrained directory (config.json, one or sharded safetensors
 * files), detecting the layout from tensor names, the model configuration
 * it implies, and the exact conversion (permutations, transposes, splits of
 * fused tensors; no arithmetic) between its tensors and the built-in
 * transformer's flat parameter vector. Private; the public face is
 * polca_model_create_pretrained and friends (polca/model.h).
 *
 * src/pretrained.c: sources, detection, configuration, public entries.
 * src/pretrained_map.c: per-layout tensor maps, reading and writing.
 */
#ifndef POLCA_PRETRAINED_H
#define POLCA_PRETRAINED_H

#include <stdint.h>

#include "layout.h"
#include "safetensors.h"
#include "transformer.h"

/* Source layouts. NATIVE: the built-in names (TransformerLens 2/3 state_dict
 * names), what a polca_model_create_transformer model reads and writes. */
#define POLCA__PT_NATIVE 0
#define POLCA__PT_TL 1    /* "transformerlens": TransformerLens 2/3 state_dict */
#define POLCA__PT_TL4 2   /* "transformerlens4": TransformerBridge state_dict() */
#define POLCA__PT_GPT2 3  /* "gpt2": GPT2LMHeadModel / GPT2Model */
#define POLCA__PT_NEOX 4  /* "gpt_neox": GPTNeoXForCausalLM */
#define POLCA__PT_LLAMA 5 /* "llama": LlamaForCausalLM */
#define POLCA__PT_QWEN2 6 /* "qwen2": Qwen2ForCausalLM */
#define POLCA__PT_COUNT 7

#define POLCA__PT_PREFIX_MAX 16

/* The public name of a layout ("native", "transformerlens", ...). */
POLCA_INTERNAL const char *polca__pt_format_name(int32_t format);

/* ---- Sources: the safetensors files of one checkpoint ---- */

typedef struct polca__pt_source {
    char *path;               /* as given, for messages */
    int32_t n_files;          /* >= 1 */
    polca__st_file **files;   /* open */
    char *config;             /* config.json text (NUL-terminated) or NULL */
    char *config_path;        /* its path, or NULL */
} polca__pt_source;

/* Opens path: a .safetensors file (with a config.json beside it, if any), or
 * a directory holding model.safetensors or the shards its
 * model.safetensors.index.json names (and config.json, if any). Errors name
 * the path and what is missing. */
POLCA_INTERNAL int32_t polca__pt_open(const char *path, polca__pt_source *src, const char *fn);
POLCA_INTERNAL void polca__pt_close(polca__pt_source *src);
/* Finds a tensor by name over the files: 1 and *file, *index; else 0. */
POLCA_INTERNAL int polca__pt_find(const polca__pt_source *src, const char *name, int32_t *file,
                                  int64_t *index);

/* Detects the layout from the tensor names (prefix receives the name prefix:
 * "transformer.", "gpt_neox.", "model." or ""). POLCA_ERR_LAYOUT_MISMATCH
 * naming the layouts tried and the first tensor names when none fits. */
POLCA_INTERNAL int32_t polca__pt_detect(const polca__pt_source *src, int32_t *format,
                                        char prefix[POLCA__PT_PREFIX_MAX], const char *fn);

/* ---- Maps: one entry per source tensor ---- */

#define POLCA__PTM_COPY 0      /* dst[0] + i */
#define POLCA__PTM_T 1         /* src [a, b] -> dst [b, a] */
#define POLCA__PTM_HEADS_T 2   /* src [a heads * b, c] -> dst [a, c, b] */
#define POLCA__PTM_QKV_COLS 3  /* src [c, 3 a b]: cols (which, h, e) -> W_which[h][d][e] */
#define POLCA__PTM_QKV_ROWS 4  /* src [a 3 b, c]: rows (h, which, e) -> W_which[h][d][e] */
#define POLCA__PTM_QKV_BIAS 5  /* src [a 3 b]: (h, which, e) -> b_which[h][e] */

typedef struct polca__pt_map {
    char name[POLCA_LAYOUT_NAME_MAX + 1];
    int32_t ndim;
    int64_t shape[POLCA_LAYOUT_MAX_DIMS];
    int64_t count;
    int32_t kind;   /* POLCA__PTM_* */
    int64_t dst[3]; /* offsets in theta (Q, K, V for the fused kinds) */
    int64_t a, b, c;
} polca__pt_map;

typedef struct polca__pt_maps {
    int32_t format;
    char prefix[POLCA__PT_PREFIX_MAX];
    int64_t n;
    polca__pt_map *m;
    int64_t n_params;
    int32_t tied;         /* the configuration's tied_embeddings */
    int32_t unembed_bias; /* and unembed_bias */
} polca__pt_maps;

/* The map of `format` (with name prefix) for a checked configuration whose
 * layout is `layout`; checks that it covers every parameter exactly once
 * (POLCA_ERR_INTERNAL otherwise). POLCA_ERR_LAYOUT_MISMATCH when the layout
 * cannot express cfg (e.g. GPT-2 with rotary positions). */
POLCA_INTERNAL int32_t polca__pt_maps_build(int32_t format, const char *prefix,
                                            const polca__tf_config *cfg,
                                            const polca__layout *layout, polca__pt_maps *out);
POLCA_INTERNAL void polca__pt_maps_free(polca__pt_maps *maps);
/* The theta index of element i of map entry m. */
POLCA_INTERNAL int64_t polca__pt_dst(const polca__pt_map *m, int64_t i);

/* Checks that src holds every tensor of maps with its shape, and (strict)
 * nothing else but known buffers; reads them (theta non-NULL) into
 * theta[n_params], all or nothing. Errors name the tensor and the file. */
POLCA_INTERNAL int32_t polca__pt_read(const polca__pt_maps *maps, const polca__pt_source *src,
                                      int strict, float *theta, const char *fn);
/* Writes theta[n_params] as the source layout's tensors (F32) to path,
 * atomically. */
POLCA_INTERNAL int32_t polca__pt_write(const polca__pt_maps *maps, const float *theta,
                                       const char *path, const char *fn);

/* Reads one checkpoint (file or directory, any detectable layout; the
 * model's own source layout when detection finds none) into theta[P] for
 * checkpoint import: tensors outside the map are ignored. */
struct polca_model;
POLCA_INTERNAL int32_t polca__pt_read_for_model(const struct polca_model *model, const char *path,
                                                float *theta, const char *fn);

#endif /* POLCA_PRETRAINED_H */
