/*
 * src/model.h - the private entry points of models and data (polca/model.h)
 * that later steps (basis building, POLCA trajectories) call. The handles'
 * definitions are in model_impl.h.
 *
 * Memory: the *_dev functions take DEVICE pointers of the model's context's
 * backend (ctx->be; host memory on the CPU backend) for theta, v, dirs and
 * their outputs, so an algorithm written against the dispatch table keeps
 * its vectors on the device. They do not check for NaN/Inf (the caller
 * owns its vectors) and do not clear the last error; they check that data
 * fits the model. Built-in MLP and host-defined models compute on the host:
 * on a device backend their _dev variants download and upload.
 */
#ifndef POLCA_MODEL_PRIVATE_H
#define POLCA_MODEL_PRIVATE_H

#include <stdint.h>

#include "model_impl.h"

/* ---- Private entry points ---- */

POLCA_INTERNAL const polca__layout *polca__model_layout(const polca_model *model);
POLCA_INTERNAL int64_t polca__data_n_samples(const polca_data *data);

/* POLCA_OK when data is of the model's kind and fits it (token ids below
 * d_vocab, n_ctx, n_features, labels, n_total); else a message naming `fn`. */
POLCA_INTERNAL int32_t polca__model_check_data(const polca_model *model, const polca_data *data,
                                               const char *fn);

/* Device-pointer computations (see the top of this file); outputs as in
 * polca/model.h. losses and c of dirderivs may be NULL. */
POLCA_INTERNAL int32_t polca__model_losses_dev(const polca_model *model, const polca_data *data,
                                               const float *theta, float *losses);
POLCA_INTERNAL int32_t polca__model_grad_dev(const polca_model *model, const polca_data *data,
                                             const float *theta, double *host_mean_loss,
                                             float *grad);
POLCA_INTERNAL int32_t polca__model_hvp_dev(const polca_model *model, const polca_data *data,
                                            const float *theta, const float *v, float *hv);
POLCA_INTERNAL int32_t polca__model_dirderivs_dev(const polca_model *model,
                                                  const polca_data *data, const float *theta,
                                                  int64_t k, const float *dirs, float *losses,
                                                  float *g, float *c);

#endif /* POLCA_MODEL_PRIVATE_H */
