/*
 * The `when` expression language.
 *
 *   expr   := or
 *   or     := and ( "||" and )*
 *   and    := not ( "&&" not )*
 *   not    := "!" not | cmp
 *   cmp    := operand ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) operand )?
 *   operand:= NUMBER | STRING | "true" | "false" | WORD | PLACEHOLDER
 *           | "(" expr ")"
 *
 * STRING is single- or double-quoted with backslash escapes and may contain
 * placeholders; WORD is a bare word ([A-Za-z_][A-Za-z0-9_.-]*) and stands
 * for itself as a string, so `{{workflow.phase}} == Succeeded` reads
 * naturally. A PLACEHOLDER is `{{ reference }}` (see template.h) and may be
 * glued to word characters (`{{params.a}}x`), forming one operand.
 *
 * Placeholders are kept as operands at parse time and resolved at
 * evaluation, never pasted into the source text and re-parsed: a step
 * output such as `1 || true` is a value, not code, so no output can change
 * the meaning of a gate.
 *
 * Comparison: when both operands parse as numbers (sk_parse_double) they
 * compare as numbers; otherwise == and != compare the strings and < <= > >=
 * compare them bytewise. Truthiness of a lone operand: true, or a non-empty
 * string other than "false" and "0".
 */
#ifndef SK_SPEC_EXPR_H
#define SK_SPEC_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/template.h"

#define SK_EXPR_MAX_LEN 4096
#define SK_EXPR_MAX_DEPTH 64

typedef struct sk_expr sk_expr_t;

/* Parses src. On error returns SK_EPARSE, writes a message such as
 * "expected an operand after '>='" to err and the 0-based byte offset of
 * the problem to *err_off (when not NULL). */
int sk_expr_parse(const char *src, sk_expr_t **out, char *err, size_t errlen, size_t *err_off);

/* Visits every placeholder reference in the parsed expression. */
int sk_expr_visit_refs(const sk_expr_t *e, sk_tmpl_visit_fn fn, void *ud);

/* Evaluates with placeholders resolved by fn. */
int sk_expr_eval(const sk_expr_t *e, sk_tmpl_resolve_fn fn, void *ud, bool *result, char *err,
                 size_t errlen);

void sk_expr_destroy(sk_expr_t *e);

#endif
