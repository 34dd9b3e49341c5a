/*
 * tests/fuzz/fuzz_json.c - fuzz harness for the polca tool's strict JSON
 * reader (tools/polca/json.c, compiled in; it reads safetensors headers and
 * model configs): parse the input, then walk the whole value, checking what
 * json.h promises (strings NUL-terminated at their length, every member
 * found again by json_get, integers exact, a NUL-terminated error message
 * naming a line and column on failure).
 *
 * Built like fuzz_container.c (tests/fuzz/build.sh); without POLCA_LIBFUZZER
 * a main() replays the files named on the command line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/polca/json.c"

#define DOC_MAX_DEPTH 64 /* json.h: "nesting at most 64 deep" */

static void walk(const json_value *v, int depth) {
    if (depth > DOC_MAX_DEPTH) abort(); /* deeper than json.h allows */
    (void)json_type_name(v->type);
    switch (v->type) {
    case JSON_NULL: break;
    case JSON_BOOL:
        if (v->boolean != 0 && v->boolean != 1) abort();
        break;
    case JSON_NUMBER:
        /* an exact integer is also the number (to double rounding) */
        if (v->is_integer && (double)v->integer != v->number) abort();
        break;
    case JSON_STRING:
        if (!v->string || v->string[v->length] != '\0') abort();
        break;
    case JSON_ARRAY:
        if (v->length && !v->items) abort();
        for (size_t k = 0; k < v->length; k++) walk(&v->items[k], depth + 1);
        break;
    case JSON_OBJECT:
        if (v->length && (!v->items || !v->keys)) abort();
        for (size_t k = 0; k < v->length; k++) {
            /* keys are unique as C strings (the duplicate check compares
             * with strcmp), so json_get finds each member at its own place */
            if (!v->keys[k] || json_get(v, v->keys[k]) != &v->items[k]) abort();
            walk(&v->items[k], depth + 1);
        }
        break;
    default: abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_value *v = NULL;
    char err[128];
    err[0] = '\0';
    /* a copy of exactly `size` bytes: ASan catches a read past the text */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    if (json_parse(text, size, &v, err, sizeof err) == 0) {
        walk(v, 0);
        (void)json_get(v, "__metadata__");
        json_free(v);
    } else {
        if (!memchr(err, '\0', sizeof err) || strncmp(err, "line ", 5) != 0) abort();
    }
    free(text);
    /* a short error buffer must stay NUL-terminated too */
    char tiny[8];
    v = NULL;
    if (json_parse((const char *)data, size, &v, tiny, sizeof tiny) == 0) json_free(v);
    else if (!memchr(tiny, '\0', sizeof tiny)) abort();
    return 0;
}

#ifndef POLCA_LIBFUZZER
#include "replay_main.h"
#endif
