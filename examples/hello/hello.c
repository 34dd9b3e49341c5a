/*
 * examples/hello - the smallest libpolca program: create a context (backend
 * chosen by POLCA_BACKEND or "auto"), say which device computes, clean up.
 *
 *   build/examples/hello/hello            # auto: CUDA if usable, else CPU
 *   POLCA_BACKEND=cuda build/examples/hello/hello   # fails clearly without a GPU
 */
#include <polca/polca.h>
#include <stdio.h>

int main(void) {
    polca_context *ctx = NULL;
    const char *backend = NULL, *device = NULL;
    int32_t st = polca_context_create(NULL, &ctx);
    if (st != POLCA_OK) {
        fprintf(stderr, "hello: %s: %s\n", polca_status_string(st), polca_last_error());
        return 1;
    }
    polca_context_backend(ctx, &backend);
    polca_context_device(ctx, &device);
    printf("libpolca %s, backend %s\n%s\n", polca_version_string(), backend, device);
    polca_context_destroy(ctx);
    return 0;
}
