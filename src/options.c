/* src/options.c - the options bag: named, typed values checked by consumers. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OPTION_NAME_MAX 63

typedef struct option_entry {
    char name[OPTION_NAME_MAX + 1];
    int type; /* POLCA_OPT_* */
    int64_t i;
    double d;
    char *s;
} option_entry;

struct polca_options {
    polca__head head;
    option_entry *items;
    size_t count, capacity;
};

static const char *type_name(int type) {
    switch (type) {
    case POLCA_OPT_INT: return "int";
    case POLCA_OPT_DOUBLE: return "double";
    default: return "string";
    }
}

int32_t polca_options_create(polca_options **out) {
    polca__clear_error();
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_options_create: argument 'out' is NULL");
    polca_options *o = polca__calloc(1, sizeof *o, "polca_options");
    if (!o) return POLCA_ERR_OUT_OF_MEMORY;
    o->head.magic = POLCA_MAGIC_OPTIONS;
    *out = o;
    return POLCA_OK;
}

void polca_options_destroy(polca_options *o) {
    if (!o || o->head.magic != POLCA_MAGIC_OPTIONS) return;
    for (size_t i = 0; i < o->count; i++) free(o->items[i].s);
    free(o->items);
    o->head.magic = 0;
    free(o);
}

static option_entry *find(const polca_options *o, const char *name) {
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->items[i].name, name) == 0) return &o->items[i];
    return NULL;
}

/* Validates the arguments common to every setter and returns the entry to
 * fill (existing or new), or NULL with the error recorded in *status. */
static option_entry *slot_for(polca_options *o, const char *name, const char *fn,
                              int32_t *status) {
    *status = polca__check_handle(o, POLCA_MAGIC_OPTIONS, fn, "options", "polca_options");
    if (*status) return NULL;
    if (!name || !name[0] || strlen(name) > OPTION_NAME_MAX) {
        *status = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                              "%s: argument 'name' must be 1..%d bytes", fn,
                              OPTION_NAME_MAX);
        return NULL;
    }
    option_entry *e = find(o, name);
    if (e) return e;
    if (o->count == o->capacity) {
        size_t cap = o->capacity ? 2 * o->capacity : 8;
        option_entry *grown = realloc(o->items, cap * sizeof *grown);
        if (!grown) {
            *status = polca__fail(POLCA_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
            return NULL;
        }
        o->items = grown;
        o->capacity = cap;
    }
    e = &o->items[o->count++];
    memset(e, 0, sizeof *e);
    strcpy(e->name, name);
    return e;
}

int32_t polca_options_set_int(polca_options *o, const char *name, int64_t value) {
    polca__clear_error();
    int32_t st;
    option_entry *e = slot_for(o, name, "polca_options_set_int", &st);
    if (!e) return st;
    free(e->s);
    e->s = NULL;
    e->type = POLCA_OPT_INT;
    e->i = value;
    return POLCA_OK;
}

int32_t polca_options_set_double(polca_options *o, const char *name, double value) {
    polca__clear_error();
    int32_t st;
    option_entry *e = slot_for(o, name, "polca_options_set_double", &st);
    if (!e) return st;
    free(e->s);
    e->s = NULL;
    e->type = POLCA_OPT_DOUBLE;
    e->d = value;
    return POLCA_OK;
}

int32_t polca_options_set_string(polca_options *o, const char *name, const char *value) {
    polca__clear_error();
    if (!value)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_options_set_string: argument 'value' is NULL");
    char *copy = strdup(value);
    if (!copy)
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "polca_options_set_string: out of memory");
    int32_t st;
    option_entry *e = slot_for(o, name, "polca_options_set_string", &st);
    if (!e) {
        free(copy);
        return st;
    }
    free(e->s);
    e->s = copy;
    e->type = POLCA_OPT_STRING;
    return POLCA_OK;
}

int32_t polca_options_unset(polca_options *o, const char *name) {
    polca__clear_error();
    int32_t st = polca__check_handle(o, POLCA_MAGIC_OPTIONS, "polca_options_unset",
                                     "options", "polca_options");
    if (st) return st;
    if (!name)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_options_unset: argument 'name' is NULL");
    option_entry *e = find(o, name);
    if (!e)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_options_unset: option '%s' is not set", name);
    free(e->s);
    *e = o->items[--o->count];
    return POLCA_OK;
}

int32_t polca__options_check(const polca_options *o, const polca__option_spec *spec,
                             const char *fn) {
    if (!o) return POLCA_OK;
    int32_t st = polca__check_handle(o, POLCA_MAGIC_OPTIONS, fn, "options", "polca_options");
    if (st) return st;
    for (size_t i = 0; i < o->count; i++) {
        const option_entry *e = &o->items[i];
        const polca__option_spec *s = spec;
        while (s->name && strcmp(s->name, e->name) != 0) s++;
        if (!s->name) {
            char known[512] = "";
            size_t len = 0;
            for (s = spec; s->name && len + strlen(s->name) + 3 < sizeof known; s++) {
                strcat(known, len ? ", " : "");
                strcat(known, s->name);
                len = strlen(known);
            }
            return polca__fail(POLCA_ERR_UNKNOWN_OPTION,
                               "%s: unknown option '%s' (known: %s)", fn, e->name,
                               len ? known : "none");
        }
        int ok = e->type == s->type ||
                 (s->type == POLCA_OPT_DOUBLE && e->type == POLCA_OPT_INT);
        if (!ok)
            return polca__fail(POLCA_ERR_OPTION_TYPE,
                               "%s: option '%s' must be set as %s, not %s", fn,
                               e->name, type_name(s->type), type_name(e->type));
    }
    return POLCA_OK;
}

int64_t polca__options_int(const polca_options *o, const char *name, int64_t dflt) {
    const option_entry *e = o ? find(o, name) : NULL;
    return e && e->type == POLCA_OPT_INT ? e->i : dflt;
}

double polca__options_double(const polca_options *o, const char *name, double dflt) {
    const option_entry *e = o ? find(o, name) : NULL;
    if (!e) return dflt;
    if (e->type == POLCA_OPT_INT) return (double)e->i;
    return e->type == POLCA_OPT_DOUBLE ? e->d : dflt;
}

const char *polca__options_string(const polca_options *o, const char *name,
                                  const char *dflt) {
    const option_entry *e = o ? find(o, name) : NULL;
    return e && e->type == POLCA_OPT_STRING ? e->s : dflt;
}
