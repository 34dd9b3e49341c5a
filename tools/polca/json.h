/*
 * tools/polca/json.h - a small strict JSON reader (RFC 8259): objects,
 * arrays, strings (escapes and \u surrogate pairs decoded to UTF-8),
 * numbers, true, false, null. No comments, no trailing commas, no
 * duplicate keys, nesting at most 64 deep, nothing after the value.
 * Errors name the line and column.
 */
#ifndef POLCA_CLI_JSON_H
#define POLCA_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_NULL 0
#define JSON_BOOL 1
#define JSON_NUMBER 2
#define JSON_STRING 3
#define JSON_ARRAY 4
#define JSON_OBJECT 5

typedef struct json_value {
    int type;
    int boolean;      /* JSON_BOOL */
    double number;    /* JSON_NUMBER */
    int is_integer;   /* JSON_NUMBER written without fraction or exponent and
                         within int64: integer holds it exactly */
    int64_t integer;
    char *string;     /* JSON_STRING: UTF-8, NUL-terminated (may hold \0) */
    size_t length;    /* string bytes, or items/members */
    struct json_value *items; /* JSON_ARRAY [length]; JSON_OBJECT values [length] */
    char **keys;      /* JSON_OBJECT [length] */
} json_value;

/* Parses text[len]. 0 on success (*out malloc'd, free with json_free); -1
 * with a message in err ("line L, column C: ...") on malformed input or
 * out of memory. */
int json_parse(const char *text, size_t len, json_value **out, char *err, size_t err_len);
void json_free(json_value *v);
/* The member `key` of an object, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
/* "object", "array", ... */
const char *json_type_name(int type);

#endif /* POLCA_CLI_JSON_H */
