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
 * Precedence, loosest first: ||, &&, !, comparison. So `a || b && c` is
 * `a || (b && c)`, and `!` applies to a whole comparison: `!1 == 2` is
 * `!(1 == 2)`, which is true. Comparisons do not chain (`1 < 2 < 3` is an
 * error). && and || short-circuit: a placeholder in a branch that is not
 * taken is never resolved.
 *
 * STRING is single- or double-quoted with the escapes \\ \" \' \n \t \r
 * and \{ (so "\{{x}}" is the literal text {{x}}); any other escape is an
 * error. It may contain placeholders. NUMBER, WORD, true and false are bare
 * tokens, a run of [A-Za-z0-9_.+-]: a run that sk_parse_double accepts is a
 * NUMBER (its value is its text, e.g. "1.0"); true and false are the strings
 * "true" and "false", so `{{x}} == true` holds when x is "true"; WORD
 * ([A-Za-z_][A-Za-z0-9_.-]*) stands for itself as a string, so
 * `{{workflow.phase}} == Succeeded` reads naturally. Any other run, such as
 * 2024-01-01 or 1.2.3, is an error: quote it. A PLACEHOLDER is
 * `{{ reference }}` (see template.h) and may be glued to bare characters
 * (`{{params.a}}x`, `v{{item}}`), forming one operand whose value is the
 * concatenation. A parenthesised expression used as an operand of a
 * comparison has the value "true" or "false".
 *
 * Placeholders are kept as operands at parse time and resolved at
 * evaluation, never pasted into the source text and re-parsed: a step
 * output such as `1 || true` is a value, not code, so no output can change
 * the meaning of a gate.
 *
 * Comparison: when both operands parse as numbers (sk_parse_double, after
 * trimming surrounding white space, so " 0.9\n" is 0.9) they compare as
 * numbers ("10" > "9", "1.0" == "1"); otherwise == and != compare the
 * strings exactly and < <= > >= compare them bytewise. Quotes do not force
 * a string comparison. Truthiness of a lone operand: true, or a non-empty
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

/* Parses src (copied: the expression does not borrow it). On error returns
 * SK_EPARSE, writes a message such as "expected an operand after '>='" to
 * err and the 0-based byte offset of the problem to *err_off (when not
 * NULL); the message itself carries no offset, so callers add it in their
 * own format. The messages: "empty expression", "expected an operand after
 * 'TOK'", "expected an operand, found 'TOK'", "unbalanced '('" (at the
 * '('), "unexpected ')'", "'=' is not an operator (did you mean '=='?)"
 * (likewise '&' and '|'), "unterminated string" (at the quote), "unknown
 * escape '\d' in string (...)", "expected '&&', '||' or the end after 'TOK'"
 * (or "... or ')' after" inside parentheses), "comparison operators do not
 * chain (...)", "'X' is neither a number nor a word (quote it ...)",
 * "number 'X' is out of range", "unexpected character 'X'", "unexpected
 * byte 0xNN", "unclosed \"{{\"", a reference error from sk_ref_parse (at
 * the "{{"), "expression nested deeper than 64 levels" (parentheses and
 * '!' count), "expression is longer than 4096 bytes". */
int sk_expr_parse(const char *src, sk_expr_t **out, char *err, size_t errlen, size_t *err_off);

/* Visits every placeholder reference in the parsed expression, in source
 * order, with its offset in the source; the references point into the
 * expression's own copy of the source. A non-zero return of fn stops the
 * walk and is returned. */
int sk_expr_visit_refs(const sk_expr_t *e, sk_tmpl_visit_fn fn, void *ud);

/* Evaluates with placeholders resolved by fn. A resolver error is
 * returned with the resolver's message (or "cannot resolve \"{{...}}\":
 * ..." when it wrote none); *result is set only on success. Each operand's
 * value is capped at 8 MiB (SK_ETOOBIG). */
int sk_expr_eval(const sk_expr_t *e, sk_tmpl_resolve_fn fn, void *ud, bool *result, char *err,
                 size_t errlen);

void sk_expr_destroy(sk_expr_t *e);

#endif
