/*
 * tools/polca/npy.c - the .npy reader and writer (npy.h). The header is a
 * Python dict literal such as
 *   {'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }
 * parsed here by a small scanner that accepts exactly that grammar.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int npy_fail(char *err, size_t len, const char *path, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, len, "%s: %s", path, msg);
    return -1;
}

const char *file_type_name(unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
    }
}

FILE *open_regular(const char *path, char *err, size_t err_len) {
    /* O_NONBLOCK: opening a FIFO (or a device) never waits for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        npy_fail(err, err_len, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        npy_fail(err, err_len, path, "cannot stat: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        npy_fail(err, err_len, path, "%s, not a regular file", file_type_name((unsigned)st.st_mode));
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *f = fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ? NULL : fdopen(fd, "rb");
    if (!f) {
        npy_fail(err, err_len, path, "cannot open: %s", strerror(errno));
        close(fd);
    }
    return f;
}

typedef struct scan {
    const char *s;
    size_t n, i;
} scan;

static void ws(scan *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t')) c->i++;
}

static int expect(scan *c, char ch) {
    ws(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") into buf. */
static int quoted(scan *c, char *buf, size_t len) {
    ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"')) return 0;
    char q = c->s[c->i++];
    size_t k = 0;
    while (c->i < c->n && c->s[c->i] != q) {
        if (k + 1 >= len) return 0;
        buf[k++] = c->s[c->i++];
    }
    if (c->i >= c->n) return 0;
    c->i++;
    buf[k] = '\0';
    return 1;
}

static int word(scan *c, const char *w) {
    ws(c);
    size_t len = strlen(w);
    if (c->n - c->i >= len && memcmp(c->s + c->i, w, len) == 0) {
        c->i += len;
        return 1;
    }
    return 0;
}

static int parse_header(const char *h, size_t n, npy_file *f, const char *path, char *err,
                        size_t err_len) {
    scan c = {h, n, 0};
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    if (!expect(&c, '{')) return npy_fail(err, err_len, path, "header is not a dict");
    for (;;) {
        if (expect(&c, '}')) break;
        char key[32];
        if (!quoted(&c, key, sizeof key) || !expect(&c, ':'))
            return npy_fail(err, err_len, path, "malformed header");
        if (strcmp(key, "descr") == 0) {
            if (!quoted(&c, f->descr, sizeof f->descr))
                return npy_fail(err, err_len, path, "unsupported dtype (not a simple type)");
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (word(&c, "True")) fortran = 1;
            else if (!word(&c, "False")) return npy_fail(err, err_len, path, "malformed fortran_order");
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!expect(&c, '(')) return npy_fail(err, err_len, path, "malformed shape");
            f->ndim = 0;
            while (!expect(&c, ')')) {
                ws(&c);
                int64_t v = 0;
                size_t start = c.i;
                while (c.i < c.n && c.s[c.i] >= '0' && c.s[c.i] <= '9') {
                    if (v > (INT64_MAX - 9) / 10) return npy_fail(err, err_len, path, "dimension too large");
                    v = v * 10 + (c.s[c.i++] - '0');
                }
                if (c.i == start || f->ndim == NPY_MAX_DIMS)
                    return npy_fail(err, err_len, path, "malformed shape (or more than %d dimensions)",
                                NPY_MAX_DIMS);
                f->shape[f->ndim++] = v;
                if (!expect(&c, ',')) {
                    if (!expect(&c, ')')) return npy_fail(err, err_len, path, "malformed shape");
                    break;
                }
            }
            have_shape = 1;
        } else {
            return npy_fail(err, err_len, path, "unknown header key '%s'", key);
        }
        if (!expect(&c, ',')) {
            if (!expect(&c, '}')) return npy_fail(err, err_len, path, "malformed header");
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return npy_fail(err, err_len, path, "header lacks descr, fortran_order or shape");
    if (fortran)
        return npy_fail(err, err_len, path, "Fortran-order arrays are not supported (save a C-order copy)");
    const char *d = f->descr;
    if (strlen(d) != 3 || (d[0] != '<' && d[0] != '|' && d[0] != '='))
        return npy_fail(err, err_len, path, "dtype '%s' is not supported (little-endian numbers only)", d);
    f->kind = d[1];
    f->item = d[2] - '0';
    int ok = (f->kind == 'b' && f->item == 1) || ((f->kind == 'i' || f->kind == 'u') &&
              (f->item == 1 || f->item == 2 || f->item == 4 || f->item == 8)) ||
             (f->kind == 'f' && (f->item == 4 || f->item == 8));
    if (!ok) return npy_fail(err, err_len, path, "dtype '%s' is not supported", d);
    if (f->item > 1 && d[0] == '|')
        return npy_fail(err, err_len, path, "dtype '%s' has no byte order", d);
    f->count = 1;
    for (int k = 0; k < f->ndim; k++) {
        if (f->shape[k] != 0 && f->count > INT64_MAX / 8 / f->shape[k])
            return npy_fail(err, err_len, path, "shape too large");
        f->count *= f->shape[k];
    }
    return 0;
}

int npy_read(const char *path, npy_file *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    FILE *fp = open_regular(path, err, err_len);
    if (!fp) return -1;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        fclose(fp);
        return npy_fail(err, err_len, path, "cannot stat: %s", strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char pre[12];
    if (size < 10 || fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fclose(fp);
        return npy_fail(err, err_len, path, "not a .npy file (bad magic)");
    }
    uint64_t hlen, at;
    if (pre[6] == 1) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        at = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            fclose(fp);
            return npy_fail(err, err_len, path, "truncated header");
        }
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
               (uint64_t)pre[11] << 24;
        at = 12;
    } else {
        fclose(fp);
        return npy_fail(err, err_len, path, ".npy format version %d.%d is not supported", pre[6], pre[7]);
    }
    if (hlen > size - at || hlen > (1u << 20)) {
        fclose(fp);
        return npy_fail(err, err_len, path, "header of %llu bytes does not fit the file",
                    (unsigned long long)hlen);
    }
    char *h = malloc(hlen + 1);
    if (!h || fread(h, 1, hlen, fp) != hlen) {
        free(h);
        fclose(fp);
        return npy_fail(err, err_len, path, "cannot read the header");
    }
    h[hlen] = '\0';
    int rc = parse_header(h, hlen, out, path, err, err_len);
    free(h);
    if (rc) {
        fclose(fp);
        return -1;
    }
    uint64_t bytes = (uint64_t)out->count * (uint64_t)out->item, have = size - at - hlen;
    if (have != bytes) {
        fclose(fp);
        return npy_fail(err, err_len, path, "holds %llu data bytes; shape and dtype need %llu",
                    (unsigned long long)have, (unsigned long long)bytes);
    }
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data || fread(out->data, 1, bytes, fp) != bytes) {
        fclose(fp);
        npy_free(out);
        return npy_fail(err, err_len, path, "cannot read the data");
    }
    fclose(fp);
    return 0;
}

void npy_free(npy_file *f) {
    free(f->data);
    f->data = NULL;
}

void npy_describe(const npy_file *f, char *buf, size_t len) {
    const char *t = "?";
    switch (f->kind) {
    case 'b': t = "bool"; break;
    case 'i': t = f->item == 1 ? "int8" : f->item == 2 ? "int16" : f->item == 4 ? "int32" : "int64"; break;
    case 'u': t = f->item == 1 ? "uint8" : f->item == 2 ? "uint16" : f->item == 4 ? "uint32" : "uint64"; break;
    case 'f': t = f->item == 4 ? "float32" : "float64"; break;
    }
    size_t at = (size_t)snprintf(buf, len, "%s [", t);
    for (int k = 0; k < f->ndim && at < len; k++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", k ? ", " : "", (long long)f->shape[k]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

int64_t npy_int(const npy_file *f, int64_t i, int *ok) {
    const unsigned char *p = (const unsigned char *)f->data + (size_t)i * (size_t)f->item;
    uint64_t u = 0;
    for (int k = 0; k < f->item; k++) u |= (uint64_t)p[k] << (8 * k);
    *ok = 1;
    switch (f->kind) {
    case 'b': return u != 0;
    case 'u':
        if (f->item == 8 && u > (uint64_t)INT64_MAX) *ok = 0;
        return (int64_t)u;
    case 'i':
        if (f->item < 8 && (u >> (8 * f->item - 1)) & 1) u |= ~0ull << (8 * f->item);
        return (int64_t)u;
    default: *ok = 0; return 0;
    }
}

double npy_double(const npy_file *f, int64_t i) {
    const unsigned char *p = (const unsigned char *)f->data + (size_t)i * (size_t)f->item;
    if (f->kind == 'f' && f->item == 4) {
        float x;
        memcpy(&x, p, 4);
        return x;
    }
    if (f->kind == 'f') {
        double x;
        memcpy(&x, p, 8);
        return x;
    }
    int ok;
    int64_t v = npy_int(f, i, &ok);
    return (double)v;
}

int npy_write(FILE *fp, const char *descr, int ndim, const int64_t *shape, const void *data) {
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    int64_t count = 1;
    for (int k = 0; k < ndim; k++) {
        len += snprintf(dict + len, sizeof dict - (size_t)len, ndim == 1 ? "%lld," : k ? ", %lld" : "%lld",
                        (long long)shape[k]);
        count *= shape[k];
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    size_t total = ((size_t)10 + (size_t)len + 1 + 63) / 64 * 64; /* numpy pads to 64 */
    char head[320];
    memset(head, ' ', sizeof head);
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)((total - 10) & 0xFF);
    head[9] = (char)((total - 10) >> 8);
    memcpy(head + 10, dict, (size_t)len);
    head[total - 1] = '\n';
    size_t item = descr[2] == '8' ? 8 : 4;
    int ok = fwrite(head, 1, total, fp) == total;
    if (ok && count) ok = fwrite(data, item, (size_t)count, fp) == (size_t)count;
    return ok ? 0 : -1;
}
