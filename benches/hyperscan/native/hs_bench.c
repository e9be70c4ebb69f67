/*
 * Native Hyperscan baseline for BENCHMARKS: the same measurements as
 * ../bench.py without the Python binding's per-call cost.
 *
 *   hs_bench RULES.jsonl INPUTS.txt [--rounds N] [--json OUT.json] [--utf8]
 *
 * RULES: JSON Lines, one object a line: {"id": .., "pattern": "..",
 * "flags": "imsx" (optional), "payload": .. (ignored)}. A rule's Hyperscan id
 * is its index in file order (blank lines skipped), i.e. dfabake's priority
 * order. INPUTS: one input a line (trailing '\n' stripped, empty lines
 * skipped).
 *
 * Each pattern is compiled alone first to name the rejected ones (a pattern
 * rejected only because it matches the empty string is kept with
 * HS_FLAG_ALLOWEMPTY); the kept ones go into one block-mode database with
 * HS_FLAG_SINGLEMATCH, which is serialized, loaded back, and only the loaded
 * copy is measured. See ../README.md.
 *
 * Build: benches/hyperscan/native/build.sh (cc -O2 hs_bench.c -lhs).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <hs/hs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- utils */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("hs_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory (%zu bytes)", n);
    return q;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime: %s", strerror(errno));
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v in place). */
static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_putc(buf_t *b, char c) { buf_put(b, &c, 1); }

/* ------------------------------------------------------ minimal JSON reader */

typedef struct {
    const char *s, *end;
    const char *err; /* first error, NULL if none */
} jp_t;

static void jp_fail(jp_t *j, const char *msg) {
    if (!j->err) j->err = msg;
}

static void jp_ws(jp_t *j) {
    while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' || *j->s == '\r' || *j->s == '\n')) j->s++;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u"; -1 on error. */
static long jp_hex4(jp_t *j) {
    if (j->end - j->s < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->s[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    j->s += 4;
    return v;
}

static void put_utf8(buf_t *b, unsigned long cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_put(b, u, n);
}

/* Parses a JSON string at j->s (which must be '"'), decoding escapes to
 * UTF-8 into out (if non-NULL). Sets *has_nul when the decoded string holds a
 * NUL. Returns 0 on success. */
static int jp_string(jp_t *j, buf_t *out, int *has_nul) {
    if (j->s >= j->end || *j->s != '"') {
        jp_fail(j, "expected a string");
        return -1;
    }
    j->s++;
    while (j->s < j->end) {
        unsigned char c = (unsigned char)*j->s++;
        if (c == '"') return 0;
        if (c < 0x20) {
            jp_fail(j, "control character in string");
            return -1;
        }
        if (c != '\\') {
            if (out) buf_putc(out, (char)c);
            continue;
        }
        if (j->s >= j->end) break;
        char e = *j->s++;
        char lit;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            long cp = jp_hex4(j);
            if (cp < 0) {
                jp_fail(j, "bad \\u escape");
                return -1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* high surrogate: needs a following \uDC00-\uDFFF */
                long lo = -1;
                if (j->end - j->s >= 6 && j->s[0] == '\\' && j->s[1] == 'u') {
                    const char *save = j->s;
                    j->s += 2;
                    lo = jp_hex4(j);
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        j->s = save;
                        lo = -1;
                    }
                }
                if (lo < 0) {
                    jp_fail(j, "unpaired surrogate in \\u escape");
                    return -1;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jp_fail(j, "unpaired surrogate in \\u escape");
                return -1;
            }
            if (cp == 0 && has_nul) *has_nul = 1;
            if (out) put_utf8(out, (unsigned long)cp);
            continue;
        }
        default:
            jp_fail(j, "bad escape in string");
            return -1;
        }
        if (out) buf_putc(out, lit);
    }
    jp_fail(j, "unterminated string");
    return -1;
}

static int jp_skip_value(jp_t *j, int depth);

static int jp_literal(jp_t *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->s) < n || memcmp(j->s, lit, n) != 0) {
        jp_fail(j, "bad literal");
        return -1;
    }
    j->s += n;
    return 0;
}

static int jp_number(jp_t *j) {
    const char *start = j->s;
    while (j->s < j->end && strchr("+-0123456789.eE", *j->s)) j->s++;
    if (j->s == start) {
        jp_fail(j, "unexpected character");
        return -1;
    }
    return 0;
}

/* Skips an object or array at j->s (the opening bracket). */
static int jp_skip_container(jp_t *j, int depth) {
    char close = *j->s == '{' ? '}' : ']';
    int is_obj = close == '}';
    j->s++;
    jp_ws(j);
    if (j->s < j->end && *j->s == close) {
        j->s++;
        return 0;
    }
    for (;;) {
        jp_ws(j);
        if (is_obj) {
            if (jp_string(j, NULL, NULL)) return -1;
            jp_ws(j);
            if (j->s >= j->end || *j->s != ':') {
                jp_fail(j, "expected ':'");
                return -1;
            }
            j->s++;
        }
        if (jp_skip_value(j, depth + 1)) return -1;
        jp_ws(j);
        if (j->s < j->end && *j->s == ',') {
            j->s++;
            continue;
        }
        if (j->s < j->end && *j->s == close) {
            j->s++;
            return 0;
        }
        jp_fail(j, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        return -1;
    }
}

static int jp_skip_value(jp_t *j, int depth) {
    if (depth > 256) {
        jp_fail(j, "nesting too deep");
        return -1;
    }
    jp_ws(j);
    if (j->s >= j->end) {
        jp_fail(j, "unexpected end of line");
        return -1;
    }
    switch (*j->s) {
    case '"': return jp_string(j, NULL, NULL);
    case '{':
    case '[': return jp_skip_container(j, depth);
    case 't': return jp_literal(j, "true");
    case 'f': return jp_literal(j, "false");
    case 'n': return jp_literal(j, "null");
    default: return jp_number(j);
    }
}

typedef struct {
    char *pattern; /* NULL if absent */
    char *flags;   /* "" if absent or null */
    int pattern_has_nul;
} rule_t;

/* Parses one JSONL rule line; returns NULL on success, else an error. */
static const char *parse_rule(const char *line, size_t len, rule_t *r) {
    jp_t j = {line, line + len, NULL};
    buf_t pat = {0}, fl = {0};
    int have_pat = 0, have_flags = 0;
    r->pattern = NULL;
    r->flags = NULL;
    r->pattern_has_nul = 0;

    jp_ws(&j);
    if (j.s >= j.end || *j.s != '{') {
        jp_fail(&j, "a rule line must be a JSON object");
        goto out;
    }
    j.s++;
    jp_ws(&j);
    if (j.s < j.end && *j.s == '}') {
        j.s++;
    } else {
        for (;;) {
            buf_t key = {0};
            jp_ws(&j);
            if (jp_string(&j, &key, NULL)) {
                free(key.p);
                goto out;
            }
            jp_ws(&j);
            if (j.s >= j.end || *j.s != ':') {
                free(key.p);
                jp_fail(&j, "expected ':'");
                goto out;
            }
            j.s++;
            jp_ws(&j);
            const char *k = key.p ? key.p : "";
            if (strcmp(k, "pattern") == 0) {
                pat.len = 0;
                have_pat = 1;
                if (jp_string(&j, &pat, &r->pattern_has_nul)) {
                    free(key.p);
                    goto out;
                }
                buf_put(&pat, "", 0);
            } else if (strcmp(k, "flags") == 0 && j.s < j.end && *j.s == '"') {
                fl.len = 0;
                have_flags = 1;
                if (jp_string(&j, &fl, NULL)) {
                    free(key.p);
                    goto out;
                }
                buf_put(&fl, "", 0);
            } else if (jp_skip_value(&j, 0)) { /* id, payload, null flags, ... */
                free(key.p);
                goto out;
            }
            free(key.p);
            jp_ws(&j);
            if (j.s < j.end && *j.s == ',') {
                j.s++;
                continue;
            }
            if (j.s < j.end && *j.s == '}') {
                j.s++;
                break;
            }
            jp_fail(&j, "expected ',' or '}'");
            goto out;
        }
    }
    jp_ws(&j);
    if (j.s != j.end) jp_fail(&j, "trailing characters after the object");
    else if (!have_pat) jp_fail(&j, "no \"pattern\" field");
out:
    if (j.err) {
        free(pat.p);
        free(fl.p);
        return j.err;
    }
    r->pattern = pat.p;
    r->flags = have_flags && fl.p ? fl.p : xstrdup("");
    if (!(have_flags && fl.p)) free(fl.p);
    return NULL;
}

/* ------------------------------------------------------------ loading files */

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

static rule_t *load_rules(const char *path, size_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: %s", path, strerror(errno));
    rule_t *rules = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (is_blank(line, (size_t)len)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            rules = xrealloc(rules, cap * sizeof *rules);
        }
        const char *err = parse_rule(line, (size_t)len, &rules[n]);
        if (err) die("%s:%zu: %s", path, lineno, err);
        n++;
    }
    if (ferror(f)) die("%s: read error", path);
    free(line);
    fclose(f);
    *n_out = n;
    return rules;
}

typedef struct {
    char *data;
    unsigned int len;
} input_t;

static input_t *load_inputs(const char *path, size_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: %s", path, strerror(errno));
    input_t *in = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len == 0) continue;
        if ((size_t)len > 0xFFFFFFFFu) die("%s: input line too long for hs_scan", path);
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            in = xrealloc(in, cap * sizeof *in);
        }
        in[n].data = xmalloc((size_t)len);
        memcpy(in[n].data, line, (size_t)len);
        in[n].len = (unsigned int)len;
        n++;
    }
    if (ferror(f)) die("%s: read error", path);
    free(line);
    fclose(f);
    *n_out = n;
    return in;
}

/* ---------------------------------------------------------------- Hyperscan */

/* The expression Hyperscan compiles for a rule: `x` becomes an inline (?x)
 * plus a newline that ends a trailing `#` comment, as dfabake inlines it. */
static char *hs_expr(const rule_t *r, unsigned int *flags_out, unsigned int extra) {
    unsigned int fl = HS_FLAG_SINGLEMATCH | extra;
    int verbose = 0;
    for (const char *c = r->flags; *c; c++) {
        switch (*c) {
        case 'i': fl |= HS_FLAG_CASELESS; break;
        case 'm': fl |= HS_FLAG_MULTILINE; break;
        case 's': fl |= HS_FLAG_DOTALL; break;
        case 'x': verbose = 1; break;
        default: break; /* unknown flags ignored, as bench.py does */
        }
    }
    *flags_out = fl;
    if (!verbose) return xstrdup(r->pattern);
    size_t n = strlen(r->pattern);
    char *e = xmalloc(n + 6);
    memcpy(e, "(?x)", 4);
    memcpy(e + 4, r->pattern, n);
    e[n + 4] = '\n';
    e[n + 5] = '\0';
    return e;
}

/* Compiles one expression alone; returns NULL if Hyperscan takes it, else
 * Hyperscan's error message (malloc'd). */
static char *try_compile(const char *expr, unsigned int flags, unsigned int id) {
    hs_database_t *db = NULL;
    hs_compile_error_t *cerr = NULL;
    const char *const exprs[1] = {expr};
    unsigned int fl[1] = {flags}, ids[1] = {id};
    hs_error_t rc = hs_compile_multi(exprs, fl, ids, 1, HS_MODE_BLOCK, NULL, &db, &cerr);
    if (rc == HS_SUCCESS) {
        hs_free_database(db);
        return NULL;
    }
    char *msg = xstrdup(cerr && cerr->message ? cerr->message : "compile failed");
    if (cerr) hs_free_compile_error(cerr);
    return msg;
}

typedef struct {
    unsigned int *ids;
    size_t n, cap;
    int overflow;
} matches_t;

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx) {
    (void)from;
    (void)to;
    (void)flags;
    matches_t *m = ctx;
    if (m->n < m->cap) m->ids[m->n++] = id;
    else m->overflow = 1;
    return 0; /* keep scanning */
}

static void check_hs(hs_error_t rc, const char *what) {
    if (rc != HS_SUCCESS) die("%s failed: hs_error_t %d", what, (int)rc);
}

/* ------------------------------------------------------------- JSON output */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* ------------------------------------------------------------------- main */

static void usage(void) {
    fputs("usage: hs_bench RULES.jsonl INPUTS.txt [--rounds N] [--json OUT.json] [--utf8]\n", stderr);
    exit(2);
}

int main(int argc, char **argv) {
    const char *rules_path = NULL, *inputs_path = NULL, *json_path = NULL;
    long rounds = 7;
    int utf8 = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            char *end;
            rounds = strtol(argv[++i], &end, 10);
            if (*end || rounds < 1 || rounds > 100000) die("--rounds wants a positive integer");
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_path = argv[++i];
        } else if (strcmp(argv[i], "--utf8") == 0) {
            utf8 = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            usage();
        } else if (!rules_path) {
            rules_path = argv[i];
        } else if (!inputs_path) {
            inputs_path = argv[i];
        } else {
            usage();
        }
    }
    if (!rules_path || !inputs_path) usage();
    if (hs_valid_platform() != HS_SUCCESS) die("this CPU lacks what Hyperscan needs (SSSE3)");

    size_t n_rules, n_inputs;
    rule_t *rules = load_rules(rules_path, &n_rules);
    input_t *inputs = load_inputs(inputs_path, &n_inputs);
    if (n_rules == 0 || n_inputs == 0) die("no rules or no inputs");
    if (n_rules > 0xFFFFFFFFu) die("too many rules");
    unsigned int extra = utf8 ? (HS_FLAG_UTF8 | HS_FLAG_UCP) : 0;

    /* 1. Which patterns does Hyperscan take? One at a time, to name each
     *    rejected one (the multi-pattern compile's error names none). */
    const char **k_exprs = xmalloc(n_rules * sizeof *k_exprs);
    unsigned int *k_flags = xmalloc(n_rules * sizeof *k_flags);
    unsigned int *k_ids = xmalloc(n_rules * sizeof *k_ids);
    size_t *rej_idx = xmalloc(n_rules * sizeof *rej_idx);
    char **rej_msg = xmalloc(n_rules * sizeof *rej_msg);
    size_t *empty_idx = xmalloc(n_rules * sizeof *empty_idx);
    char **all_exprs = xmalloc(n_rules * sizeof *all_exprs);
    size_t kept = 0, n_rej = 0, n_empty = 0;
    for (size_t i = 0; i < n_rules; i++) {
        unsigned int fl;
        all_exprs[i] = hs_expr(&rules[i], &fl, extra);
        if (rules[i].pattern_has_nul) {
            rej_idx[n_rej] = i;
            rej_msg[n_rej++] = xstrdup("pattern holds a NUL character (hs_compile takes C strings; write \\x00)");
            continue;
        }
        char *err = try_compile(all_exprs[i], fl, (unsigned int)i);
        if (err) {
            /* `a*` matches every input for the regex crate and dfabake too:
             * if HS_FLAG_ALLOWEMPTY makes it compile, matching empty was the
             * only error. */
            char *err2 = try_compile(all_exprs[i], fl | HS_FLAG_ALLOWEMPTY, (unsigned int)i);
            if (err2) {
                free(err2);
                rej_idx[n_rej] = i;
                rej_msg[n_rej++] = err;
                continue;
            }
            free(err);
            fl |= HS_FLAG_ALLOWEMPTY;
            empty_idx[n_empty++] = i;
        }
        k_exprs[kept] = all_exprs[i];
        k_flags[kept] = fl;
        k_ids[kept] = (unsigned int)i;
        kept++;
    }
    if (kept == 0) die("Hyperscan rejected every pattern");

    /* 2. Compile the kept patterns into one block-mode database. */
    hs_database_t *db = NULL;
    hs_compile_error_t *cerr = NULL;
    uint64_t t0 = now_ns();
    hs_error_t rc = hs_compile_multi(k_exprs, k_flags, k_ids, (unsigned int)kept, HS_MODE_BLOCK,
                                     NULL, &db, &cerr);
    double compile_seconds = (double)(now_ns() - t0) / 1e9;
    if (rc != HS_SUCCESS) {
        fprintf(stderr, "hs_bench: hs_compile_multi failed: %s (expression %d)\n",
                cerr && cerr->message ? cerr->message : "?", cerr ? cerr->expression : -1);
        if (cerr) hs_free_compile_error(cerr);
        return 1;
    }
    char *info = NULL;
    if (hs_database_info(db, &info) != HS_SUCCESS) info = NULL;

    /* 3. Serialize. */
    char *blob = NULL;
    size_t blob_len = 0;
    check_hs(hs_serialize_database(db, &blob, &blob_len), "hs_serialize_database");
    hs_free_database(db);
    db = NULL;

    /* 4. Load: deserialize + the scratch a loaded database needs, median of 20. */
    enum { LOADS = 20 };
    double load_us[LOADS], deser_us[LOADS], scratch_us[LOADS];
    hs_database_t *loaded = NULL;
    hs_scratch_t *scratch = NULL;
    for (int i = 0; i < LOADS; i++) {
        hs_database_t *d = NULL;
        hs_scratch_t *s = NULL;
        uint64_t a = now_ns();
        check_hs(hs_deserialize_database(blob, blob_len, &d), "hs_deserialize_database");
        uint64_t b = now_ns();
        check_hs(hs_alloc_scratch(d, &s), "hs_alloc_scratch");
        uint64_t c = now_ns();
        load_us[i] = (double)(c - a) / 1e3;
        deser_us[i] = (double)(b - a) / 1e3;
        scratch_us[i] = (double)(c - b) / 1e3;
        if (loaded) {
            check_hs(hs_free_scratch(scratch), "hs_free_scratch");
            check_hs(hs_free_database(loaded), "hs_free_database");
        }
        loaded = d;
        scratch = s;
    }
    double load_med = median(load_us, LOADS);
    double deser_med = median(deser_us, LOADS);
    double scratch_med = median(scratch_us, LOADS);

    /* 5. Matches (and a warm-up): each id at most once per input thanks to
     *    SINGLEMATCH; checked. */
    matches_t m = {xmalloc(kept * sizeof(unsigned int)), 0, kept, 0};
    unsigned char *seen = xmalloc(n_rules);
    memset(seen, 0, n_rules);
    size_t matches_total = 0, inputs_matched = 0;
    for (size_t k = 0; k < n_inputs; k++) {
        m.n = 0;
        check_hs(hs_scan(loaded, inputs[k].data, inputs[k].len, 0, scratch, on_match, &m), "hs_scan");
        if (m.overflow) die("more matches than patterns on input %zu: SINGLEMATCH broken?", k);
        for (size_t t = 0; t < m.n; t++) {
            if (m.ids[t] >= n_rules) die("unknown id %u reported", m.ids[t]);
            if (seen[m.ids[t]]) die("id %u reported twice on input %zu", m.ids[t], k);
            seen[m.ids[t]] = 1;
        }
        for (size_t t = 0; t < m.n; t++) seen[m.ids[t]] = 0;
        matches_total += m.n;
        inputs_matched += m.n > 0;
    }

    /* 6. Per input: median over rounds of the mean ns per input. `all` and
     *    `first` alternate within each round, in swapped order every other
     *    round, so neither gets a systematically warmer cache. */
    double *all_means = xmalloc((size_t)rounds * sizeof(double));
    double *first_means = xmalloc((size_t)rounds * sizeof(double));
    volatile unsigned long long sink = 0;
    for (long r = 0; r < rounds; r++) {
        for (int pass = 0; pass < 2; pass++) {
            int want_first = (pass + (int)(r & 1)) & 1;
            unsigned long long acc = 0;
            uint64_t a = now_ns();
            for (size_t k = 0; k < n_inputs; k++) {
                m.n = 0;
                hs_error_t e = hs_scan(loaded, inputs[k].data, inputs[k].len, 0, scratch, on_match, &m);
                if (e != HS_SUCCESS) check_hs(e, "hs_scan");
                if (want_first) {
                    /* Hyperscan reports by end offset, not by id: the lowest
                     * id is only known after the whole scan. */
                    unsigned int first = UINT32_MAX;
                    for (size_t t = 0; t < m.n; t++)
                        if (m.ids[t] < first) first = m.ids[t];
                    acc += first;
                } else {
                    acc += m.n;
                }
            }
            uint64_t b = now_ns();
            (want_first ? first_means : all_means)[r] = (double)(b - a) / (double)n_inputs;
            sink += acc;
        }
    }
    double all_ns = median(all_means, (size_t)rounds);
    double first_ns = median(first_means, (size_t)rounds);
    (void)sink;

    /* Report. */
    const char *version = hs_version();
    fprintf(stderr, "Hyperscan %s (native, %s)\n", version, info ? info : "?");
    fprintf(stderr, "%s: %zu rules, %zu inputs, utf8/ucp %s\n", rules_path, n_rules, n_inputs,
            utf8 ? "on" : "off");
    fprintf(stderr, "  rejected by Hyperscan: %zu\n", n_rej);
    for (size_t i = 0; i < n_rej && i < 10; i++)
        fprintf(stderr, "    index %zu: %s: %s\n", rej_idx[i], rules[rej_idx[i]].pattern, rej_msg[i]);
    if (n_rej > 10) fprintf(stderr, "    ... %zu more (all in --json)\n", n_rej - 10);
    if (n_empty) fprintf(stderr, "  compiled with HS_FLAG_ALLOWEMPTY (they match the empty string): %zu\n", n_empty);
    fprintf(stderr, "  compile (%zu patterns, one database): %.3f s\n", kept, compile_seconds);
    fprintf(stderr, "  serialized database: %zu bytes\n", blob_len);
    fprintf(stderr, "  load: %.1f us (deserialize %.1f + scratch %.1f, median of %d)\n", load_med,
            deser_med, scratch_med, LOADS);
    fprintf(stderr, "  per input, median of %ld rounds:\n", rounds);
    fprintf(stderr, "    all   %.1f ns\n", all_ns);
    fprintf(stderr, "    first %.1f ns (full scan, then min id)\n", first_ns);
    fprintf(stderr, "  matches (all): %zu over %zu/%zu inputs\n", matches_total, inputs_matched, n_inputs);

    int status = 0;
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (!f) die("%s: %s", json_path, strerror(errno));
        fprintf(f, "{\"engine\":\"hyperscan-native\",\"version\":");
        json_str(f, version);
        fprintf(f, ",\"rules\":%zu,\"kept\":%zu,\"rejected\":[", n_rules, kept);
        for (size_t i = 0; i < n_rej; i++) {
            fprintf(f, "%s{\"index\":%zu,\"error\":", i ? "," : "", rej_idx[i]);
            json_str(f, rej_msg[i]);
            fputc('}', f);
        }
        fprintf(f, "],\"allow_empty\":[");
        for (size_t i = 0; i < n_empty; i++) fprintf(f, "%s%zu", i ? "," : "", empty_idx[i]);
        fprintf(f, "],\"compile_seconds\":%.4f,\"db_bytes\":%zu,\"load_us\":%.2f", compile_seconds,
                blob_len, load_med);
        fprintf(f, ",\"deserialize_us\":%.2f,\"scratch_us\":%.2f", deser_med, scratch_med);
        fprintf(f, ",\"inputs\":%zu,\"all_ns\":%.1f,\"first_ns\":%.1f,\"matches_total\":%zu", n_inputs,
                all_ns, first_ns, matches_total);
        fprintf(f, ",\"inputs_matched\":%zu,\"rounds\":%ld,\"utf8_ucp\":%s,\"hs_info\":", inputs_matched,
                rounds, utf8 ? "true" : "false");
        if (info) json_str(f, info);
        else fputs("null", f);
        fputs("}\n", f);
        if (ferror(f)) status = 1;
        if (fclose(f) != 0) status = 1;
        if (status) fprintf(stderr, "hs_bench: writing %s failed\n", json_path);
    }

    /* Free everything. */
    check_hs(hs_free_scratch(scratch), "hs_free_scratch");
    check_hs(hs_free_database(loaded), "hs_free_database");
    free(blob); /* hs_serialize_database allocates with the misc allocator: malloc by default */
    free(info); /* likewise hs_database_info */
    free(all_means);
    free(first_means);
    free(m.ids);
    free(seen);
    for (size_t i = 0; i < n_rej; i++) free(rej_msg[i]);
    for (size_t i = 0; i < n_rules; i++) {
        free(all_exprs[i]);
        free(rules[i].pattern);
        free(rules[i].flags);
    }
    free(all_exprs);
    free(k_exprs);
    free(k_flags);
    free(k_ids);
    free(rej_idx);
    free(rej_msg);
    free(empty_idx);
    free(rules);
    for (size_t k = 0; k < n_inputs; k++) free(inputs[k].data);
    free(inputs);
    return status;
}
