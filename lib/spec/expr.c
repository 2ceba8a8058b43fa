/*
 * The `when` language, front half: a lexer and a recursive-descent parser
 * building the AST of expr-int.h. Evaluation lives in expr-eval.c.
 */
#include "spec/expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/expr-int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strutil.h"

/* How much of a token is quoted back in a message. */
#define SHOW_MAX 32

static void parts_free(part_t *p) {
  while (p) {
    part_t *next = p->next;
    free(p->text);
    free(p);
    p = next;
  }
}

static void node_free(node_t *n) {
  while (n) {
    node_t *next = n->next;
    node_free(n->kids);
    parts_free(n->parts);
    free(n);
    n = next;
  }
}

void sk_expr_destroy(sk_expr_t *e) {
  if (!e)
    return;
  node_free(e->root);
  free(e->src);
  free(e);
}

/* ------------------------------------------------------------------ */
/* Lexer                                                              */
/* ------------------------------------------------------------------ */

typedef enum {
  T_END,
  T_LPAREN,
  T_RPAREN,
  T_AND,
  T_OR,
  T_NOT,
  T_CMP,
  T_OPERAND,
} tok_kind_t;

typedef struct {
  tok_kind_t kind;
  size_t start;  /* byte offset in src */
  size_t len;    /* bytes of source the token covers */
  cmp_op_t op;
  operand_kind_t okind;
  part_t *parts; /* T_OPERAND: owned until the parser takes them */
} tok_t;

typedef struct {
  const char *src;
  size_t n;
  size_t pos;    /* where the lexer continues */
  tok_t cur;
  size_t prev_start, prev_len;
  bool have_prev;
  char *err;
  size_t errlen;
  size_t err_off;
  bool failed;
  int rc;        /* the code of the first failure */
} parser_t;

static int fail_at(parser_t *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are consequences of it. */
static int fail_at(parser_t *p, size_t off, const char *fmt, ...) {
  if (!p->failed) {
    p->failed = true;
    p->rc = SK_EPARSE;
    p->err_off = off;
    if (p->err && p->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err, p->errlen, fmt, ap);
      va_end(ap);
    }
  }
  return SK_EPARSE;
}

static int fail_nomem(parser_t *p, size_t off) {
  if (!p->failed) {
    fail_at(p, off, "out of memory");
    p->rc = SK_ENOMEM;
  }
  return SK_ENOMEM;
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Characters of a bare token: words, numbers, and the text glued to a
 * placeholder. Classification happens once the whole run is known. */
static bool is_bare(char c) {
  return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-' || c == '+';
}

static bool at_open(const parser_t *p, size_t i) {
  return i + 1 < p->n && p->src[i] == '{' && p->src[i + 1] == '{';
}

static int part_add_text(part_t ***tail, const char *s, size_t len) {
  part_t *pt = calloc(1, sizeof(*pt));
  if (!pt)
    return SK_ENOMEM;
  pt->kind = PART_TEXT;
  pt->text = malloc(len + 1);
  if (!pt->text) {
    free(pt);
    return SK_ENOMEM;
  }
  if (len)
    memcpy(pt->text, s, len);
  pt->text[len] = '\0';
  pt->len = len;
  **tail = pt;
  *tail = &pt->next;
  return 0;
}

/* Flushes the pending literal run held in acc into a text part. */
static int flush_text(parser_t *p, part_t ***tail, sk_buf_t *acc) {
  if (acc->len == 0)
    return 0;
  int rc = part_add_text(tail, acc->data, acc->len);
  sk_buf_reset(acc);
  if (rc < 0)
    return fail_nomem(p, p->pos);
  return 0;
}

/* Parses the placeholder whose "{{" is at i; close is the offset of its
 * "}}". Appends a reference part. */
static int add_ref(parser_t *p, part_t ***tail, size_t i, size_t close) {
  part_t *pt = calloc(1, sizeof(*pt));
  if (!pt)
    return fail_nomem(p, i);
  pt->kind = PART_REF;
  pt->off = i;
  pt->srclen = close + 2 - i;
  char msg[512];
  int rc = sk_ref_parse(p->src + i + 2, close - (i + 2), &pt->ref, msg, sizeof(msg));
  if (rc < 0) {
    free(pt);
    return fail_at(p, i, "%s", msg);
  }
  **tail = pt;
  *tail = &pt->next;
  return 0;
}

static size_t find_close(const parser_t *p, size_t from, char stop) {
  for (size_t j = from; j + 1 < p->n; j++) {
    if (stop && p->src[j] == stop)
      return p->n;
    if (p->src[j] == '}' && p->src[j + 1] == '}')
      return j;
  }
  return p->n;
}

static int lex_string(parser_t *p, tok_t *t) {
  const char *s = p->src;
  char q = s[p->pos];
  size_t i = p->pos + 1;
  sk_buf_t acc;
  sk_buf_init(&acc, SK_EXPR_MAX_LEN);
  part_t *parts = NULL, **tail = &parts;
  int rc = 0;
  for (;;) {
    if (i >= p->n) {
      rc = fail_at(p, t->start, "unterminated string");
      goto fail;
    }
    char c = s[i];
    if (c == q)
      break;
    if (c == '\\') {
      if (i + 1 >= p->n) {
        rc = fail_at(p, t->start, "unterminated string");
        goto fail;
      }
      char e = s[i + 1], v;
      switch (e) {
      case '\\': v = '\\'; break;
      case '"': v = '"'; break;
      case '\'': v = '\''; break;
      case 'n': v = '\n'; break;
      case 't': v = '\t'; break;
      case 'r': v = '\r'; break;
      case '{': v = '{'; break;
      default:
        if (e >= 0x20 && e < 0x7f)
          rc = fail_at(p, i,
                       "unknown escape '\\%c' in string (use \\\\, \\\", \\', \\n, \\t, \\r or "
                       "\\{)",
                       e);
        else
          rc = fail_at(p, i, "unknown escape in string (use \\\\, \\\", \\', \\n, \\t, \\r or "
                             "\\{)");
        goto fail;
      }
      if (sk_buf_putc(&acc, v) < 0) {
        rc = fail_nomem(p, i);
        goto fail;
      }
      i += 2;
      continue;
    }
    if (at_open(p, i)) {
      size_t close = find_close(p, i + 2, q);
      if (close == p->n) {
        rc = fail_at(p, i, "unclosed \"{{\" in string");
        goto fail;
      }
      if ((rc = flush_text(p, &tail, &acc)) < 0 || (rc = add_ref(p, &tail, i, close)) < 0)
        goto fail;
      i = close + 2;
      continue;
    }
    if (sk_buf_putc(&acc, c) < 0) {
      rc = fail_nomem(p, i);
      goto fail;
    }
    i++;
  }
  /* An empty string still needs one part, so that it has a value. */
  if (acc.len > 0 || !parts) {
    if (part_add_text(&tail, acc.data ? acc.data : "", acc.len) < 0) {
      rc = fail_nomem(p, i);
      goto fail;
    }
  }
  sk_buf_release(&acc);
  t->kind = T_OPERAND;
  t->okind = OP_STRING;
  t->parts = parts;
  t->len = i + 1 - t->start;
  p->pos = i + 1;
  return 0;
fail:
  sk_buf_release(&acc);
  parts_free(parts);
  return rc;
}

static bool is_word(const char *s, size_t n) {
  if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return false;
  }
  return true;
}

static int lex_bare(parser_t *p, tok_t *t) {
  size_t i = p->pos;
  sk_buf_t acc;
  sk_buf_init(&acc, SK_EXPR_MAX_LEN);
  part_t *parts = NULL, **tail = &parts;
  bool has_ref = false;
  int rc = 0;
  for (;;) {
    if (i < p->n && is_bare(p->src[i])) {
      if (sk_buf_putc(&acc, p->src[i]) < 0) {
        rc = fail_nomem(p, i);
        goto fail;
      }
      i++;
    } else if (at_open(p, i)) {
      size_t close = find_close(p, i + 2, 0);
      if (close == p->n) {
        rc = fail_at(p, i, "unclosed \"{{\"");
        goto fail;
      }
      if ((rc = flush_text(p, &tail, &acc)) < 0 || (rc = add_ref(p, &tail, i, close)) < 0)
        goto fail;
      has_ref = true;
      i = close + 2;
    } else {
      break;
    }
  }
  size_t len = i - t->start;
  const char *txt = p->src + t->start;
  if (has_ref) {
    if ((rc = flush_text(p, &tail, &acc)) < 0)
      goto fail;
    t->okind = OP_PLACEHOLDER;
  } else {
    double d;
    int prc = sk_parse_double(acc.data, &d);
    if ((len == 4 && memcmp(txt, "true", 4) == 0) || (len == 5 && memcmp(txt, "false", 5) == 0)) {
      t->okind = OP_BOOL;
    } else if (prc == 0) {
      t->okind = OP_NUMBER;
    } else if (prc == SK_ERANGE) {
      rc = fail_at(p, t->start, "number '%.*s%s' is out of range",
                   (int)(len > SHOW_MAX ? SHOW_MAX : len), txt, len > SHOW_MAX ? "..." : "");
      goto fail;
    } else if (is_word(txt, len)) {
      t->okind = OP_WORD;
    } else {
      rc = fail_at(p, t->start,
                   "'%.*s%s' is neither a number nor a word (quote it to use it as a string)",
                   (int)(len > SHOW_MAX ? SHOW_MAX : len), txt, len > SHOW_MAX ? "..." : "");
      goto fail;
    }
    if (part_add_text(&tail, txt, len) < 0) {
      rc = fail_nomem(p, t->start);
      goto fail;
    }
  }
  sk_buf_release(&acc);
  t->kind = T_OPERAND;
  t->parts = parts;
  t->len = len;
  p->pos = i;
  return 0;
fail:
  sk_buf_release(&acc);
  parts_free(parts);
  return rc;
}

/* Reads the next token into p->cur, remembering the previous one for
 * messages. The previous token's parts must already have been taken. */
static int next(parser_t *p) {
  if (p->cur.kind != T_END || p->cur.len > 0) {
    p->prev_start = p->cur.start;
    p->prev_len = p->cur.len;
    p->have_prev = true;
  }
  parts_free(p->cur.parts);
  memset(&p->cur, 0, sizeof(p->cur));
  const char *s = p->src;
  while (p->pos < p->n && is_space(s[p->pos]))
    p->pos++;
  tok_t *t = &p->cur;
  t->start = p->pos;
  if (p->pos >= p->n) {
    t->kind = T_END;
    return 0;
  }
  char c = s[p->pos];
  char d = p->pos + 1 < p->n ? s[p->pos + 1] : '\0';
  t->len = 1;
  switch (c) {
  case '(':
    t->kind = T_LPAREN;
    break;
  case ')':
    t->kind = T_RPAREN;
    break;
  case '&':
    if (d != '&')
      return fail_at(p, p->pos, "'&' is not an operator (did you mean '&&'?)");
    t->kind = T_AND;
    t->len = 2;
    break;
  case '|':
    if (d != '|')
      return fail_at(p, p->pos, "'|' is not an operator (did you mean '||'?)");
    t->kind = T_OR;
    t->len = 2;
    break;
  case '=':
    if (d != '=')
      return fail_at(p, p->pos, "'=' is not an operator (did you mean '=='?)");
    t->kind = T_CMP;
    t->op = CMP_EQ;
    t->len = 2;
    break;
  case '!':
    if (d == '=') {
      t->kind = T_CMP;
      t->op = CMP_NE;
      t->len = 2;
    } else {
      t->kind = T_NOT;
    }
    break;
  case '<':
  case '>':
    t->kind = T_CMP;
    if (d == '=') {
      t->op = c == '<' ? CMP_LE : CMP_GE;
      t->len = 2;
    } else {
      t->op = c == '<' ? CMP_LT : CMP_GT;
    }
    break;
  case '"':
  case '\'':
    return lex_string(p, t);
  default:
    if (is_bare(c) || at_open(p, p->pos))
      return lex_bare(p, t);
    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
      return fail_at(p, p->pos, "unexpected character '%c'", c);
    return fail_at(p, p->pos, "unexpected byte 0x%02x", (unsigned char)c);
  }
  p->pos += t->len;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Parser                                                             */
/* ------------------------------------------------------------------ */

static int prev_show_len(const parser_t *p) {
  return (int)(p->prev_len > SHOW_MAX ? SHOW_MAX : p->prev_len);
}
static const char *prev_show_tail(const parser_t *p) {
  return p->prev_len > SHOW_MAX ? "..." : "";
}
static int cur_show_len(const parser_t *p) {
  return (int)(p->cur.len > SHOW_MAX ? SHOW_MAX : p->cur.len);
}
static const char *cur_show_tail(const parser_t *p) { return p->cur.len > SHOW_MAX ? "..." : ""; }

static node_t *node_new(parser_t *p, node_kind_t kind, size_t off) {
  node_t *n = calloc(1, sizeof(*n));
  if (!n) {
    fail_nomem(p, off);
    return NULL;
  }
  n->kind = kind;
  n->off = off;
  return n;
}

static node_t *parse_or(parser_t *p, int depth);

static node_t *expect_operand_error(parser_t *p) {
  if (p->have_prev)
    fail_at(p, p->cur.start, "expected an operand after '%.*s%s'", prev_show_len(p),
            p->src + p->prev_start, prev_show_tail(p));
  else if (p->cur.kind == T_RPAREN)
    fail_at(p, p->cur.start, "unexpected ')'");
  else
    fail_at(p, p->cur.start, "expected an operand, found '%.*s%s'", cur_show_len(p),
            p->src + p->cur.start, cur_show_tail(p));
  return NULL;
}

/* Reports what stands after a complete expression where only '&&', '||'
 * or the closer (end of input or ')') may follow. */
static void trailing_error(parser_t *p, const char *closer) {
  if (p->cur.kind == T_CMP)
    fail_at(p, p->cur.start, "comparison operators do not chain (use '&&' between comparisons)");
  else
    fail_at(p, p->cur.start, "expected '&&', '||' or %s after '%.*s%s'", closer, prev_show_len(p),
            p->src + p->prev_start, prev_show_tail(p));
}

static node_t *parse_operand(parser_t *p, int depth) {
  if (p->cur.kind == T_OPERAND) {
    node_t *n = node_new(p, N_OPERAND, p->cur.start);
    if (!n)
      return NULL;
    n->okind = p->cur.okind;
    n->parts = p->cur.parts;
    p->cur.parts = NULL;
    if (next(p) < 0) {
      node_free(n);
      return NULL;
    }
    return n;
  }
  if (p->cur.kind != T_LPAREN)
    return expect_operand_error(p);
  size_t open = p->cur.start;
  if (depth >= SK_EXPR_MAX_DEPTH) {
    fail_at(p, open, "expression nested deeper than %d levels", SK_EXPR_MAX_DEPTH);
    return NULL;
  }
  node_t *n = node_new(p, N_OPERAND, open);
  if (!n)
    return NULL;
  n->okind = OP_GROUP;
  if (next(p) < 0)
    goto fail;
  n->kids = parse_or(p, depth + 1);
  if (!n->kids)
    goto fail;
  if (p->cur.kind == T_END) {
    fail_at(p, open, "unbalanced '('");
    goto fail;
  }
  if (p->cur.kind != T_RPAREN) {
    trailing_error(p, "')'");
    goto fail;
  }
  if (next(p) < 0)
    goto fail;
  return n;
fail:
  node_free(n);
  return NULL;
}

static node_t *parse_cmp(parser_t *p, int depth) {
  node_t *lhs = parse_operand(p, depth);
  if (!lhs || p->cur.kind != T_CMP)
    return lhs;
  node_t *n = node_new(p, N_CMP, p->cur.start);
  if (!n) {
    node_free(lhs);
    return NULL;
  }
  n->op = p->cur.op;
  n->kids = lhs;
  if (next(p) < 0)
    goto fail;
  lhs->next = parse_operand(p, depth);
  if (!lhs->next)
    goto fail;
  return n;
fail:
  node_free(n);
  return NULL;
}

static node_t *parse_not(parser_t *p, int depth) {
  if (p->cur.kind != T_NOT)
    return parse_cmp(p, depth);
  if (depth >= SK_EXPR_MAX_DEPTH) {
    fail_at(p, p->cur.start, "expression nested deeper than %d levels", SK_EXPR_MAX_DEPTH);
    return NULL;
  }
  node_t *n = node_new(p, N_NOT, p->cur.start);
  if (!n)
    return NULL;
  if (next(p) < 0)
    goto fail;
  n->kids = parse_not(p, depth + 1);
  if (!n->kids)
    goto fail;
  return n;
fail:
  node_free(n);
  return NULL;
}

/* Parses `sub ( OP sub )*` into one n-ary node, or returns the lone sub. */
static node_t *parse_list(parser_t *p, int depth, tok_kind_t op, node_kind_t kind,
                          node_t *(*sub)(parser_t *, int)) {
  node_t *first = sub(p, depth);
  if (!first || p->cur.kind != op)
    return first;
  node_t *n = node_new(p, kind, first->off);
  if (!n) {
    node_free(first);
    return NULL;
  }
  n->kids = first;
  node_t *last = first;
  while (p->cur.kind == op) {
    if (next(p) < 0)
      goto fail;
    last->next = sub(p, depth);
    if (!last->next)
      goto fail;
    last = last->next;
  }
  return n;
fail:
  node_free(n);
  return NULL;
}

static node_t *parse_and(parser_t *p, int depth) {
  return parse_list(p, depth, T_AND, N_AND, parse_not);
}

static node_t *parse_or(parser_t *p, int depth) {
  return parse_list(p, depth, T_OR, N_OR, parse_and);
}

int sk_expr_parse(const char *src, sk_expr_t **out, char *err, size_t errlen, size_t *err_off) {
  if (!src || !out)
    return SK_EINVAL;
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  parser_t p;
  memset(&p, 0, sizeof(p));
  p.err = err;
  p.errlen = errlen;
  sk_expr_t *e = NULL;
  size_t n = strnlen(src, SK_EXPR_MAX_LEN + 1);
  if (n > SK_EXPR_MAX_LEN) {
    fail_at(&p, SK_EXPR_MAX_LEN, "expression is longer than %d bytes", SK_EXPR_MAX_LEN);
    goto fail;
  }
  e = calloc(1, sizeof(*e));
  if (!e || !(e->src = malloc(n + 1))) {
    fail_nomem(&p, 0);
    goto fail;
  }
  memcpy(e->src, src, n + 1);
  p.src = e->src;
  p.n = n;
  if (next(&p) < 0)
    goto fail;
  if (p.cur.kind == T_END) {
    fail_at(&p, 0, "empty expression");
    goto fail;
  }
  e->root = parse_or(&p, 0);
  if (!e->root)
    goto fail;
  if (p.cur.kind == T_RPAREN) {
    fail_at(&p, p.cur.start, "unexpected ')'");
    goto fail;
  }
  if (p.cur.kind != T_END) {
    trailing_error(&p, "the end");
    goto fail;
  }
  *out = e;
  return 0;
fail:
  parts_free(p.cur.parts);
  sk_expr_destroy(e);
  if (err_off)
    *err_off = p.err_off;
  return p.failed ? p.rc : SK_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Reference visiting                                                 */
/* ------------------------------------------------------------------ */

static int visit_node(const node_t *n, sk_tmpl_visit_fn fn, void *ud) {
  for (; n; n = n->next) {
    for (const part_t *pt = n->parts; pt; pt = pt->next) {
      if (pt->kind == PART_REF) {
        int rc = fn(ud, &pt->ref, pt->off);
        if (rc != 0)
          return rc;
      }
    }
    int rc = visit_node(n->kids, fn, ud);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int sk_expr_visit_refs(const sk_expr_t *e, sk_tmpl_visit_fn fn, void *ud) {
  if (!e || !fn)
    return SK_EINVAL;
  return visit_node(e->root, fn, ud);
}

