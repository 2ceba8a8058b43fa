/*
 * The step-outputs contract: what a step writes to $SKEIN_OUTPUTS.
 *
 * A Pod step's container writes its outputs to the file named by
 * $SKEIN_OUTPUTS. On a cluster that file is the container's
 * terminationMessagePath, so the kubelet hands it back in the Pod status;
 * locally, skeinctl reads it after the process exits. Both read it with this
 * one pure parser, so a step behaves the same in both places.
 *
 * Two forms are accepted:
 *  - One JSON object (the first byte that is not white space is `{`). Its
 *    values must be strings, numbers or booleans, which become text
 *    ("0.93", "3", "true"); null, objects and arrays are errors.
 *  - `name=value` lines. The name matches [A-Za-z_][A-Za-z0-9_-]* (what a
 *    template's steps.S.outputs.NAME can address); the value is the rest of
 *    the line, taken as is, except that a trailing \r is dropped. Blank
 *    lines are skipped; a later line for the same name replaces an earlier
 *    one (as with GitHub Actions' $GITHUB_OUTPUT). A line without '=' is an
 *    error naming its line number.
 * Names in the JSON form follow the same rule. Values must be UTF-8.
 *
 * The file is capped at SK_OUTPUTS_MAX_BYTES, like a Pod's termination
 * message: bigger data travels as files or URIs.
 */
#ifndef SK_ENGINE_OUTPUTS_H
#define SK_ENGINE_OUTPUTS_H

#include <jansson.h>
#include <stddef.h>

#define SK_OUTPUTS_MAX_BYTES 4096

/*
 * Parses len bytes of an outputs file. On success returns 0 and sets *out
 * to a new object of string values, or to NULL when the file holds no
 * outputs (empty, or only white space). On failure returns SK_ETOOBIG (over
 * SK_OUTPUTS_MAX_BYTES) or SK_EPARSE, sets *out to NULL and writes a message
 * for the user into err, e.g.
 *   "outputs file is 5000 bytes, over the 4096-byte limit (a Pod's
 *    termination message is capped the same way); pass large artifacts as
 *    files or URIs"
 *   "outputs file line 3: expected NAME=VALUE, got \"hello\""
 * data need not be NUL-terminated.
 */
int sk_outputs_parse(const char *data, size_t len, json_t **out, char *err, size_t errlen);

/* The size check alone, for a caller that knows the size before reading
 * (a file's st_size): SK_ETOOBIG with the message above when len is over
 * SK_OUTPUTS_MAX_BYTES, else 0. */
int sk_outputs_check_size(size_t len, char *err, size_t errlen);

#endif
