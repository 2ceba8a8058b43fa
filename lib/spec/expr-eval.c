/*
 * The `when` language, back half: evaluation of a parsed expression, with
 * placeholders resolved through the caller's resolver and their values
 * treated as data only.
 */
#include "spec/expr.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "spec/expr-int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strutil.h"

/* One operand's resolved value may not grow past this: a forEach step's
 * output list (1000 instances of 4 KiB outputs) fits, a runaway does not. */
#define VALUE_MAX (8u << 20)

/* A number longer than this is not something a person compares; treating
 * it as a string avoids copying large values just to try strtod. */
#define NUMBER_MAX 320

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

typedef struct {
  const sk_expr_t *e;
  sk_tmpl_resolve_fn fn;
  void *ud;
  char *err;
  size_t errlen;
} eval_t;

static int eval_bool(eval_t *c, const node_t *n, bool *out);

/* Appends the value of an operand to out. A placeholder's value is only
 * ever appended as data: nothing here parses it again. */
static int eval_value(eval_t *c, const node_t *n, sk_buf_t *out) {
  int rc;
  if (n->okind == OP_GROUP) {
    bool b;
    if ((rc = eval_bool(c, n->kids, &b)) < 0)
      return rc;
    return sk_buf_puts(out, b ? "true" : "false");
  }
  for (const part_t *pt = n->parts; pt; pt = pt->next) {
    if (pt->kind == PART_TEXT) {
      rc = sk_buf_append(out, pt->text, pt->len);
    } else {
      if (c->err && c->errlen)
        c->err[0] = '\0';
      if (!c->fn) {
        set_err(c->err, c->errlen, "no resolver for \"%.*s\"", (int)pt->srclen,
                c->e->src + pt->off);
        return SK_EINVAL;
      }
      rc = c->fn(c->ud, &pt->ref, out, c->err, c->errlen);
      if (rc < 0 && c->err && c->errlen && c->err[0])
        return rc;
    }
    if (rc == SK_ETOOBIG) {
      set_err(c->err, c->errlen,
              "the value of the operand at byte %zu is longer than %u bytes", n->off,
              VALUE_MAX);
      return rc;
    }
    if (rc < 0) {
      set_err(c->err, c->errlen, "cannot resolve \"%.*s\": %s", (int)pt->srclen,
              c->e->src + pt->off, sk_strerror(rc));
      return rc;
    }
  }
  return 0;
}

static bool truthy(const sk_buf_t *v) {
  if (v->len == 0)
    return false;
  if (v->len == 5 && memcmp(v->data, "false", 5) == 0)
    return false;
  if (v->len == 1 && v->data[0] == '0')
    return false;
  return true;
}

/* A value is a number when, trimmed of surrounding blanks (outputs often
 * end in a newline), the whole of it parses as a finite double. */
static bool as_number(const sk_buf_t *v, double *d) {
  const char *s = v->data ? v->data : "";
  size_t n = v->len;
  while (n > 0 && is_space(*s)) {
    s++;
    n--;
  }
  while (n > 0 && is_space(s[n - 1]))
    n--;
  if (n == 0 || n > NUMBER_MAX || memchr(s, '\0', n))
    return false;
  char tmp[NUMBER_MAX + 1];
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  return sk_parse_double(tmp, d) == 0;
}

static int compare(const sk_buf_t *a, const sk_buf_t *b) {
  double x, y;
  if (as_number(a, &x) && as_number(b, &y))
    return x < y ? -1 : x > y ? 1 : 0;
  size_t m = a->len < b->len ? a->len : b->len;
  int r = m ? memcmp(a->data, b->data, m) : 0;
  if (r != 0)
    return r < 0 ? -1 : 1;
  return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static int eval_cmp(eval_t *c, const node_t *n, bool *out) {
  sk_buf_t a, b;
  sk_buf_init(&a, VALUE_MAX);
  sk_buf_init(&b, VALUE_MAX);
  int rc = eval_value(c, n->kids, &a);
  if (rc == 0)
    rc = eval_value(c, n->kids->next, &b);
  if (rc == 0) {
    int r = compare(&a, &b);
    switch (n->op) {
    case CMP_EQ: *out = r == 0; break;
    case CMP_NE: *out = r != 0; break;
    case CMP_LT: *out = r < 0; break;
    case CMP_LE: *out = r <= 0; break;
    case CMP_GT: *out = r > 0; break;
    case CMP_GE: *out = r >= 0; break;
    }
  }
  sk_buf_release(&a);
  sk_buf_release(&b);
  return rc;
}

static int eval_bool(eval_t *c, const node_t *n, bool *out) {
  int rc;
  bool b = false;
  switch (n->kind) {
  case N_OR:
  case N_AND:
    /* Short-circuit: an untaken branch is not evaluated, so its
     * placeholders are never resolved (a Skipped step's outputs may not
     * exist). */
    for (const node_t *k = n->kids; k; k = k->next) {
      if ((rc = eval_bool(c, k, &b)) < 0)
        return rc;
      if (b == (n->kind == N_OR))
        break;
    }
    *out = b;
    return 0;
  case N_NOT:
    if ((rc = eval_bool(c, n->kids, &b)) < 0)
      return rc;
    *out = !b;
    return 0;
  case N_CMP:
    return eval_cmp(c, n, out);
  case N_OPERAND:
    if (n->okind == OP_GROUP)
      return eval_bool(c, n->kids, out);
    {
      sk_buf_t v;
      sk_buf_init(&v, VALUE_MAX);
      rc = eval_value(c, n, &v);
      if (rc == 0)
        *out = truthy(&v);
      sk_buf_release(&v);
      return rc;
    }
  }
  return SK_EINVAL;
}

int sk_expr_eval(const sk_expr_t *e, sk_tmpl_resolve_fn fn, void *ud, bool *result, char *err,
                 size_t errlen) {
  if (err && errlen)
    err[0] = '\0';
  if (!e || !e->root || !result) {
    set_err(err, errlen, "invalid argument");
    return SK_EINVAL;
  }
  eval_t c = {e, fn, ud, err, errlen};
  bool b = false;
  int rc = eval_bool(&c, e->root, &b);
  if (rc < 0)
    return rc;
  *result = b;
  return 0;
}
