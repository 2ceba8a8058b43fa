/*
 * Private to the expression module: the AST shared by the parser
 * (expr.c) and the evaluator (expr-eval.c).
 */
#ifndef SK_SPEC_EXPR_INT_H
#define SK_SPEC_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/expr.h"
#include "spec/template.h"

typedef enum { PART_TEXT, PART_REF } part_kind_t;

/* An operand is a sequence of literal text and placeholders, concatenated
 * at evaluation. */
typedef struct part {
  part_kind_t kind;
  char *text;    /* PART_TEXT: owned, NUL-terminated */
  size_t len;
  sk_ref_t ref;  /* PART_REF: points into sk_expr_t.src */
  size_t off;    /* PART_REF: offset of "{{" in src */
  size_t srclen; /* PART_REF: length of "{{ ... }}" in src */
  struct part *next;
} part_t;

typedef enum { N_OR, N_AND, N_NOT, N_CMP, N_OPERAND } node_kind_t;

typedef enum { OP_NUMBER, OP_STRING, OP_BOOL, OP_WORD, OP_PLACEHOLDER, OP_GROUP } operand_kind_t;

typedef enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE } cmp_op_t;

/*
 * One AST node. Children form a list through `next`: the operands of an
 * or/and, the single child of a not, the two sides of a cmp, the inner
 * expression of a parenthesised operand. Lists keep the tree as deep as the
 * nesting in the source, not as long as a chain of `||`.
 */
typedef struct node {
  node_kind_t kind;
  size_t off;
  cmp_op_t op;             /* N_CMP */
  operand_kind_t okind;    /* N_OPERAND */
  part_t *parts;           /* N_OPERAND other than OP_GROUP */
  struct node *kids;
  struct node *next;
} node_t;

struct sk_expr {
  char *src;  /* a private copy: references point into it */
  node_t *root;
};

#endif
