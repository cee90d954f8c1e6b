/* pxmpp-stanza: parse XMPP stanzas into typed form and print them as JSON lines,
 * re-serialize them from their typed form, or print the type manifest. */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char pxmpp_manifest_json[];

enum { EXIT_INVALID = 1, EXIT_XML = 2, EXIT_USAGE = 64, EXIT_IO = 74 };

static const char usage_text[] =
    "usage: pxmpp-stanza parse [--chunk N]\n"
    "       pxmpp-stanza roundtrip [--chunk N]\n"
    "       pxmpp-stanza check [--chunk N]\n"
    "       pxmpp-stanza types\n"
    "\n"
    "parse      read a stream (beginning with <?xml or <stream:stream) or a bare sequence of\n"
    "           stanzas (content of a jabber:client stream) from stdin; print one JSON object\n"
    "           per top-level element\n"
    "roundtrip  print each top-level element re-serialized from its typed form, one per line\n"
    "check      print one JSON line per violation of a schema (stanza index, byte offset,\n"
    "           specification, path, reason), then a summary line: stanzas, stanzas typed\n"
    "           throughout, payloads, typed payloads, untyped payload namespaces and elements\n"
    "           with counts, unknown children of typed elements (not those kept raw because\n"
    "           they broke their schema: those are violations), violations\n"
    "types      print the type manifest (JSON)\n"
    "--chunk N  feed the input in pieces of N bytes (the output does not depend on it)\n"
    "\n"
    "exit status: 0 all valid; 1 a stanza or one of its payloads failed validation (parse:\n"
    "its line has an \"error\" key; check: a violation line); 2 XML-level error (an\n"
    "\"error\" object with the byte offset; parsing stops); 64 usage; 74 input/output error\n";

/* A count per name (check's summary), kept in first-seen order. */
typedef struct tally {
    char **names;
    size_t *counts;
    size_t len, cap;
} tally;

typedef struct app {
    bool roundtrip;
    bool check;
    bool invalid_seen;
    pxmpp_buf out;
    /* check */
    size_t stanzas, stanzas_typed, payloads, payloads_typed, violations;
    bool stanza_clean;
    tally untyped_ns, untyped, unknown;
} app;

static void tally_add(tally *t, const char *name)
{
    for (size_t i = 0; i < t->len; i++)
        if (strcmp(t->names[i], name) == 0) {
            t->counts[i]++;
            return;
        }
    if (t->len == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        char **nn = realloc(t->names, ncap * sizeof *nn);
        if (!nn)
            return;
        t->names = nn;
        size_t *nc = realloc(t->counts, ncap * sizeof *nc);
        if (!nc)
            return;
        t->counts = nc;
        t->cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return;
    t->names[t->len] = copy;
    t->counts[t->len++] = 1;
}

static void tally_print(const char *key, const tally *t, bool *first)
{
    json_key(stdout, first, key);
    fputc('{', stdout);
    for (size_t i = 0; i < t->len; i++) {
        if (i)
            fputc(',', stdout);
        json_string(stdout, t->names[i]);
        printf(":%zu", t->counts[i]);
    }
    fputc('}', stdout);
}

static void tally_free(tally *t)
{
    for (size_t i = 0; i < t->len; i++)
        free(t->names[i]);
    free(t->names);
    free(t->counts);
}

/* The specification a diagnostic's reason names ("XEP-0184 §5.4: ..."), else the type's. */
static void print_violation(app *a, const pxmpp_type_desc *t, const pxmpp_diag *why, uint64_t offset)
{
    a->violations++;
    a->stanza_clean = false;
    const char *reason = why->reason ? why->reason : "";
    const char *colon = strstr(reason, ": ");
    bool named = (strncmp(reason, "XEP-", 4) == 0 || strncmp(reason, "RFC ", 4) == 0) && colon;
    bool first = true;
    fputc('{', stdout);
    json_key(stdout, &first, "stanza");
    printf("%zu", a->stanzas + 1); /* 1-based, in input order */
    json_key(stdout, &first, "offset");
    printf("%llu", (unsigned long long)offset);
    json_key(stdout, &first, "spec");
    if (named) {
        char spec[64];
        snprintf(spec, sizeof spec, "%.*s", (int)(colon - reason), reason);
        json_string(stdout, spec);
    } else {
        json_string(stdout, t && t->spec ? t->spec : NULL);
    }
    json_key(stdout, &first, "path");
    json_string(stdout, why->path);
    json_key(stdout, &first, "reason");
    json_string(stdout, named ? colon + 2 : reason);
    fputs("}\n", stdout);
}

static void check_typed(app *a, const pxmpp_type_desc *d, const void *obj, uint64_t offset);

static void check_payload(app *a, const pxmpp_payload *p, uint64_t offset)
{
    a->payloads++;
    if (p->type && p->data) {
        if (p->invalid)
            print_violation(a, p->type, p->invalid, offset);
        else
            a->payloads_typed++;
        check_typed(a, p->type, p->data, offset);
        return;
    }
    if (p->node && p->node->local) {
        char buf[600];
        a->stanza_clean = false;
        tally_add(&a->untyped_ns, p->node->ns ? p->node->ns : "");
        snprintf(buf, sizeof buf, "%s %s", p->node->ns ? p->node->ns : "", p->node->local);
        tally_add(&a->untyped, buf);
    }
}

/* Does a field of d describe child element n (which is then kept raw because it broke its
   schema, a violation reported already, rather than unknown)? */
static bool known_child(const pxmpp_type_desc *d, const pxmpp_node *n)
{
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        const char *local = f->kind == PXMPP_F_CHILD ? f->child->local : f->local;
        if (f->kind == PXMPP_F_ATTR || f->kind == PXMPP_F_TEXT || !local)
            continue;
        if (strcmp(local, n->local) == 0)
            return true;
    }
    return false;
}

/* Walks a typed element: payloads at every depth, unknown children. */
static void check_typed(app *a, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    const pxmpp_meta *m = obj;
    for (size_t i = 0; i < m->extra_nodes_count; i++) {
        const pxmpp_node *n = &m->extra_nodes[i];
        if (!n->local || known_child(d, n))
            continue;
        char buf[700];
        snprintf(buf, sizeof buf, "%s %s in %s", n->ns ? n->ns : "", n->local, d->name);
        tally_add(&a->unknown, buf);
        a->stanza_clean = false;
    }
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        const char *base;
        memcpy(&base, (const char *)obj + f->offset, sizeof base);
        if (!base)
            continue;
        size_t n = 1;
        if (f->flags & PXMPP_FF_LIST)
            memcpy(&n, (const char *)obj + f->aux_offset, sizeof n);
        if (f->kind == PXMPP_F_CHILD) {
            for (size_t i = 0; i < n; i++)
                check_typed(a, f->child, base + i * f->child->size, offset);
        } else if (f->kind == PXMPP_F_PAYLOADS) {
            const pxmpp_payload *arr = (const pxmpp_payload *)(const void *)base;
            for (size_t i = 0; i < n; i++)
                check_payload(a, &arr[i], offset);
        }
    }
}

static void check_element(app *a, const pxmpp_type_desc *t, const void *obj, const pxmpp_diag *why,
                          uint64_t offset)
{
    a->stanza_clean = true;
    if (why)
        print_violation(a, t, why, offset);
    check_typed(a, t, obj, offset);
    if (a->stanza_clean)
        a->stanzas_typed++;
    a->stanzas++;
}

static void check_summary(app *a)
{
    bool first = true;
    fputs("{\"summary\":{", stdout);
    json_key(stdout, &first, "stanzas");
    printf("%zu", a->stanzas);
    json_key(stdout, &first, "typed");
    printf("%zu", a->stanzas_typed);
    json_key(stdout, &first, "payloads");
    printf("%zu", a->payloads);
    json_key(stdout, &first, "typed_payloads");
    printf("%zu", a->payloads_typed);
    tally_print("untyped_namespaces", &a->untyped_ns, &first);
    tally_print("untyped", &a->untyped, &first);
    tally_print("unknown_children", &a->unknown, &first);
    json_key(stdout, &first, "violations");
    printf("%zu", a->violations);
    fputs("}}\n", stdout);
}

static void print_stanza_head(const pxmpp_type_desc *t, bool *first)
{
    json_key(stdout, first, "kind");
    json_string(stdout, t->stanza ? t->local : t->name);
}

/* The payloads field of t (an element has at most one): its items in *arr, *n; false if none. */
static bool payload_list(const pxmpp_type_desc *t, const void *obj, const pxmpp_payload **arr, size_t *n)
{
    for (uint16_t k = 0; k < t->fields_count; k++) {
        const pxmpp_field_desc *fd = &t->fields[k];
        if (fd->kind != PXMPP_F_PAYLOADS)
            continue;
        memcpy(arr, (const char *)obj + fd->offset, sizeof *arr);
        memcpy(n, (const char *)obj + fd->aux_offset, sizeof *n);
        return true;
    }
    return false;
}

/* The diagnostic of the first direct payload of a stanza that broke its schema, or NULL. */
static const pxmpp_diag *first_invalid_payload(const pxmpp_type_desc *t, const void *obj)
{
    const pxmpp_payload *arr;
    size_t n;
    if (payload_list(t, obj, &arr, &n))
        for (size_t i = 0; i < n; i++)
            if (arr[i].invalid)
                return arr[i].invalid;
    return NULL;
}

static void print_element(app *a, const pxmpp_type_desc *t, const void *obj, const pxmpp_diag *why,
                          uint64_t offset)
{
    if (a->check) {
        check_element(a, t, obj, why, offset);
        return;
    }
    if (a->roundtrip) {
        a->out.len = 0;
        int rc = pxmpp_write(&a->out, t, obj, PXMPP_NS_CLIENT, PXMPP_WRITE_ONE_LINE | (why ? PXMPP_WRITE_LENIENT : 0));
        if (rc) {
            fprintf(stderr, "pxmpp-stanza: cannot serialize <%s/>: %s\n", t->local, pxmpp_strerror(rc));
            a->invalid_seen = true;
            return;
        }
        fwrite(a->out.data, 1, a->out.len, stdout);
        fputc('\n', stdout);
        if (why)
            fprintf(stderr, "pxmpp-stanza: invalid <%s/> at %s: %s\n", t->local, why->path, why->reason);
        return;
    }
    bool first = true;
    fputc('{', stdout);
    print_stanza_head(t, &first);
    if (t->stanza) {
        /* the stanza fields every stanza kind has, in a fixed order */
        static const char *const common[] = { "type", "id", "from", "to", "lang", NULL };
        for (size_t i = 0; common[i]; i++) {
            for (uint16_t k = 0; k < t->fields_count; k++) {
                if (strcmp(t->fields[k].name, common[i]) != 0)
                    continue;
                const pxmpp_field_desc *fd = &t->fields[k];
                json_key(stdout, &first, fd->name);
                const char *src = (const char *)obj + fd->offset;
                if (fd->vtype == PXMPP_V_ENUM) {
                    int v;
                    memcpy(&v, src, sizeof v);
                    json_string(stdout, v > 0 && v < fd->enum_desc->count ? fd->enum_desc->names[v] : NULL);
                } else {
                    const char *s;
                    memcpy(&s, src, sizeof s);
                    json_string(stdout, s);
                }
            }
        }
        const pxmpp_diag *shown = why ? why : first_invalid_payload(t, obj);
        if (shown) {
            /* the stanza's violation, or else the first payload that broke its schema */
            json_key(stdout, &first, "error");
            fputs("{\"reason\":", stdout);
            json_string(stdout, shown->reason);
            fputs(",\"path\":", stdout);
            json_string(stdout, shown->path);
            fputc('}', stdout);
        }
        /* payloads: "namespace localname" of every non-core child */
        const pxmpp_payload *arr = NULL;
        size_t n = 0;
        if (payload_list(t, obj, &arr, &n)) {
            json_key(stdout, &first, "payloads");
            fputc('[', stdout);
            char buf[600];
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fputc(',', stdout);
                json_string(stdout, payload_name(&arr[i], PXMPP_NS_CLIENT, buf, sizeof buf));
            }
            fputc(']', stdout);
        }
        if (!why) {
            static const char *const skip[] = { "type", "id", "from", "to", "lang", "error", "payloads", NULL };
            json_fields(stdout, &first, t, obj, skip);
            for (uint16_t k = 0; k < t->fields_count; k++) {
                const pxmpp_field_desc *fd = &t->fields[k];
                const void *p;
                memcpy(&p, (const char *)obj + fd->offset, sizeof p);
                if (fd->kind == PXMPP_F_CHILD && strcmp(fd->name, "error") == 0 && p) {
                    /* the stanza's <error/> child; "error" itself is kept for validation failures */
                    bool f2 = true;
                    json_key(stdout, &first, "stanza_error");
                    fputc('{', stdout);
                    json_fields(stdout, &f2, fd->child, p, NULL);
                    fputc('}', stdout);
                } else if (fd->kind == PXMPP_F_PAYLOADS) {
                    json_key(stdout, &first, "payload_data");
                    fputc('[', stdout);
                    for (size_t i = 0; i < n; i++) {
                        if (i)
                            fputc(',', stdout);
                        json_payload(stdout, &arr[i], PXMPP_NS_CLIENT);
                        if (arr[i].invalid) {
                            a->invalid_seen = true;
                            fprintf(stderr, "pxmpp-stanza: payload failed its schema at %s: %s\n",
                                    arr[i].invalid->path, arr[i].invalid->reason);
                        }
                    }
                    fputc(']', stdout);
                }
            }
        }
    } else {
        if (why) {
            json_key(stdout, &first, "error");
            fputs("{\"reason\":", stdout);
            json_string(stdout, why->reason);
            fputs(",\"path\":", stdout);
            json_string(stdout, why->path);
            fputc('}', stdout);
        } else {
            json_fields(stdout, &first, t, obj, NULL);
        }
    }
    fputs("}\n", stdout);
}

static void on_element(void *user, const pxmpp_type_desc *t, const void *obj, uint64_t offset)
{
    print_element(user, t, obj, NULL, offset);
}

static void on_invalid(void *user, const pxmpp_type_desc *t, const void *obj, const pxmpp_diag *why,
                       uint64_t offset)
{
    app *a = user;
    a->invalid_seen = true;
    print_element(a, t, obj, why, offset);
}

static void on_stream_error(void *user, const pxmpp_stream_error *e)
{
    print_element(user, &pxmpp_stream_error_desc, e, NULL, 0);
}

static void on_features(void *user, const pxmpp_stream_features *f)
{
    print_element(user, &pxmpp_stream_features_desc, f, NULL, 0);
}

static int read_all(FILE *in, char **data, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, in);
        n += r;
        if (r == 0) {
            if (ferror(in)) {
                free(buf);
                return -1;
            }
            break;
        }
    }
    *data = buf;
    *len = n;
    return 0;
}

static bool is_full_stream(const char *d, size_t len)
{
    size_t i = 0;
    if (len >= 3 && (unsigned char)d[0] == 0xEF && (unsigned char)d[1] == 0xBB && (unsigned char)d[2] == 0xBF)
        i = 3;
    while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    if (len - i >= 5 && memcmp(d + i, "<?xml", 5) == 0)
        return true;
    if (len - i >= 14 && memcmp(d + i, "<stream:stream", 14) == 0)
        return true;
    /* a stream that is not UTF-8 (UTF-16/32 BOM or NUL bytes) is a stream too: let the parser refuse it */
    return len > 0 && ((unsigned char)d[0] == 0xFE || (unsigned char)d[0] == 0xFF || d[0] == 0);
}

static int run(bool roundtrip, bool check, size_t chunk)
{
    char *data;
    size_t len;
    if (read_all(stdin, &data, &len)) {
        fprintf(stderr, "pxmpp-stanza: cannot read stdin: %s\n", strerror(errno));
        return EXIT_IO;
    }
    app a = { .roundtrip = roundtrip, .check = check };
    pxmpp_buf_init(&a.out, NULL);
    pxmpp_stream_callbacks cb = { 0 };
    cb.element = on_element;
    cb.stanza_invalid = on_invalid;
    cb.stream_error = on_stream_error;
    cb.features = on_features;
    pxmpp_stream_config cfg = { 0 };
    if (!is_full_stream(data, len))
        cfg.flags = PXMPP_STREAM_CONTENT_ONLY;
    pxmpp_stream *s;
    int rc = pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &a);
    if (rc) {
        fprintf(stderr, "pxmpp-stanza: %s\n", pxmpp_strerror(rc));
        free(data);
        return EXIT_IO;
    }
    if (!chunk)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len && !rc; off += chunk)
        rc = pxmpp_stream_feed(s, data + off, len - off < chunk ? len - off : chunk);
    if (!rc)
        rc = pxmpp_stream_finish(s);
    int status = a.invalid_seen || a.violations ? EXIT_INVALID : 0;
    if (rc) {
        const char *reason;
        uint64_t offset;
        int code = pxmpp_stream_last_error(s, &reason, &offset);
        FILE *o = roundtrip ? stderr : stdout;
        if (check)
            check_summary(&a);
        fputs("{\"error\":{\"code\":", o);
        json_string(o, pxmpp_error_name(code));
        fputs(",\"reason\":", o);
        json_string(o, reason);
        fprintf(o, ",\"offset\":%llu}}\n", (unsigned long long)offset);
        status = EXIT_XML;
    }
    else if (check)
        check_summary(&a);
    tally_free(&a.untyped_ns);
    tally_free(&a.untyped);
    tally_free(&a.unknown);
    pxmpp_stream_free(s);
    pxmpp_buf_free(&a.out);
    free(data);
    if (fflush(stdout) != 0)
        return EXIT_IO;
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    size_t chunk = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || *end || v == 0 || argv[i][0] == '-') {
                fprintf(stderr, "pxmpp-stanza: --chunk needs a positive integer, got '%s'\n", argv[i]);
                return EXIT_USAGE;
            }
            chunk = (size_t)v;
        } else {
            fprintf(stderr, "pxmpp-stanza: unknown argument '%s'\n%s", argv[i], usage_text);
            return EXIT_USAGE;
        }
    }
    if (strcmp(cmd, "parse") == 0)
        return run(false, false, chunk);
    if (strcmp(cmd, "roundtrip") == 0)
        return run(true, false, chunk);
    if (strcmp(cmd, "check") == 0)
        return run(false, true, chunk);
    if (strcmp(cmd, "types") == 0) {
        if (chunk) {
            fputs("pxmpp-stanza: types takes no options\n", stderr);
            return EXIT_USAGE;
        }
        fputs(pxmpp_manifest_json, stdout);
        return fflush(stdout) ? EXIT_IO : 0;
    }
    fprintf(stderr, "pxmpp-stanza: unknown command '%s'\n%s", cmd, usage_text);
    return EXIT_USAGE;
}
