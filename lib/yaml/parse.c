/*
 * The entry points: checks on the raw bytes, the libyaml event loop, and
 * libyaml's errors turned into one diagnostic each.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/strutil.h"
#include "yaml/yaml-int.h"

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* The 1-based line and column of byte off, counted as libyaml counts them:
 * columns in characters, and CR LF, CR, LF, NEL, LS and PS as line breaks. */
static void mark_of(const char *buf, size_t len, size_t off, int *line, int *col) {
  const unsigned char *u = (const unsigned char *)buf;
  long l = 1, c = 1;
  if (off > len)
    off = len;
  for (size_t i = 0; i < off; i++) {
    bool brk = false;
    if (u[i] == '\n') {
      brk = true;
    } else if (u[i] == '\r') {
      brk = !(i + 1 < len && u[i + 1] == '\n');
    } else if (u[i] == 0xC2 && i + 1 < off && u[i + 1] == 0x85) {
      brk = true;
      i++;
    } else if (u[i] == 0xE2 && i + 2 < off && u[i + 1] == 0x80 &&
               (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
      brk = true;
      i += 2;
    }
    if (brk) {
      l++;
      c = 1;
    } else if (!is_cont(u[i])) {
      c++;
    }
  }
  *line = l < 0x7fffffff ? (int)l : 0;
  *col = c < 0x7fffffff ? (int)c : 0;
}

static void add_diag(sk_diags_t *diags, const char *file, int line, int col, const char *msg) {
  if (diags)
    sk_diags_add(diags, file, line, col, NULL, "%s", msg);
}

/* Checks the bytes before libyaml sees them: libyaml would report bad UTF-8
 * too, but only with a byte offset, and it stops at NUL. */
static int check_bytes(const char *buf, size_t len, const char *file, sk_diags_t *diags) {
  char msg[256];
  int line, col;
  if (len > SK_YAML_MAX_BYTES) {
    mark_of(buf, len, SK_YAML_MAX_BYTES, &line, &col);
    snprintf(msg, sizeof(msg),
             "the input is %zu bytes, more than the limit of %u (3 MiB, the API server's); "
             "this is where the limit is crossed",
             len, SK_YAML_MAX_BYTES);
    add_diag(diags, file, line, col, msg);
    return SK_ETOOBIG;
  }
  size_t bad = len;
  bool utf8 = sk_utf8_valid(buf, len, &bad);
  const char *nul = memchr(buf, '\0', utf8 ? len : bad);
  if (nul) {
    mark_of(buf, len, (size_t)(nul - buf), &line, &col);
    add_diag(diags, file, line, col, "the input contains a NUL byte; YAML text cannot");
    return SK_EPARSE;
  }
  if (!utf8) {
    mark_of(buf, len, bad, &line, &col);
    snprintf(msg, sizeof(msg), "the input is not valid UTF-8 (byte 0x%02X here)",
             (unsigned char)buf[bad]);
    add_diag(diags, file, line, col, msg);
    return SK_EPARSE;
  }
  return 0;
}

/* Turns libyaml's error state into one diagnostic. */
static int yaml_error(const yaml_parser_t *p, const char *buf, size_t len, const char *file,
                      sk_diags_t *diags) {
  char msg[512];
  int line, col;
  const char *problem = p->problem ? p->problem : "unknown error";
  switch (p->error) {
  case YAML_MEMORY_ERROR:
    add_diag(diags, file, 0, 0, "out of memory while parsing YAML");
    return SK_ENOMEM;
  case YAML_READER_ERROR:
    /* The reader reports a byte offset, not a mark. */
    mark_of(buf, len, p->problem_offset, &line, &col);
    if (p->problem_value >= 0)
      snprintf(msg, sizeof(msg), "%s (character U+%04X)", problem,
               (unsigned)p->problem_value);
    else
      snprintf(msg, sizeof(msg), "%s", problem);
    add_diag(diags, file, line, col, msg);
    return SK_EPARSE;
  default:
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    if (p->context &&
        (p->context_mark.line != p->problem_mark.line ||
         p->context_mark.column != p->problem_mark.column))
      snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s that started at line %d, column %d)",
               problem, p->context, (int)p->context_mark.line + 1,
               (int)p->context_mark.column + 1);
    else if (p->context)
      snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s)", problem, p->context);
    else
      snprintf(msg, sizeof(msg), "YAML syntax error: %s", problem);
    add_diag(diags, file, line, col, msg);
    return SK_EPARSE;
  }
}

int sk_yaml_parse(const char *buf, size_t len, const char *file, sk_diags_t *diags,
                  sk_yaml_doc_t ***docs, size_t *ndocs) {
  if (docs)
    *docs = NULL;
  if (ndocs)
    *ndocs = 0;
  if ((!buf && len) || !docs || !ndocs)
    return SK_EINVAL;
  if (!buf)
    buf = "";
  /* A UTF-8 byte order mark is allowed and skipped here, so that columns on
   * the first line count from the first character a reader sees. */
  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
    buf += 3;
    len -= 3;
  }
  int rc = check_bytes(buf, len, file, diags);
  if (rc < 0)
    return rc;

  yaml_parser_t parser;
  sk__yaml_builder_t *b = sk__yaml_builder_create(file, diags);
  if (!b || !yaml_parser_initialize(&parser)) {
    sk__yaml_builder_destroy(b);
    add_diag(diags, file, 0, 0, "out of memory while parsing YAML");
    return SK_ENOMEM;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
  yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = yaml_error(&parser, buf, len, file, diags);
      break;
    }
    rc = sk__yaml_builder_event(b, &ev);
    bool end = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    if (rc == SK_ENOMEM)
      add_diag(diags, file, 0, 0, "out of memory while parsing YAML");
    if (rc < 0 || end)
      break;
  }
  yaml_parser_delete(&parser);
  if (rc == 0 && sk__yaml_builder_errors(b) > 0)
    rc = SK_EPARSE;
  if (rc == 0)
    sk__yaml_builder_take(b, docs, ndocs);
  sk__yaml_builder_destroy(b);
  return rc;
}

int sk_yaml_parse_file(const char *path, sk_diags_t *diags, sk_yaml_doc_t ***docs,
                       size_t *ndocs) {
  if (docs)
    *docs = NULL;
  if (ndocs)
    *ndocs = 0;
  if (!path || !docs || !ndocs)
    return SK_EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (diags)
      sk_diags_add(diags, path, 0, 0, NULL, "cannot open: %s", strerror(err));
    return err == ENOENT ? SK_ENOENT : SK_EIO;
  }
  sk_buf_t data;
  sk_buf_init(&data, SK_YAML_MAX_BYTES);
  int rc = 0;
  for (;;) {
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      if (diags)
        sk_diags_add(diags, path, 0, 0, NULL, "cannot read: %s", strerror(err));
      rc = SK_EIO;
      break;
    }
    if (n == 0)
      break;
    if ((rc = sk_buf_append(&data, chunk, (size_t)n)) < 0) {
      if (diags && rc == SK_ETOOBIG)
        sk_diags_add(diags, path, 0, 0, NULL,
                     "the file is larger than the limit of %u bytes (3 MiB, the API "
                     "server's)",
                     SK_YAML_MAX_BYTES);
      else if (diags)
        sk_diags_add(diags, path, 0, 0, NULL, "out of memory while reading the file");
      break;
    }
  }
  close(fd);
  if (rc == 0)
    rc = sk_yaml_parse(data.data, data.len, path, diags, docs, ndocs);
  sk_buf_release(&data);
  return rc;
}
