/*
 * The run directory: a file-backed store for one local run.
 *
 * status.json is replaced atomically (write a temporary file, then rename)
 * after every change, so a reader — a person, a test, `--resume` after a
 * crash — only ever sees a complete status. A lock file held with flock
 * keeps two skeinctl processes from driving the same run at once; the lock
 * goes away with the process, so a crash never leaves a stale one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local/local-int.h"
#include "util/error.h"

/* Longest path the store builds; longer run directories are refused. */
#define PATH_CAP 4096

void sk__store_init(sk__store_t *s) {
  s->dir = NULL;
  s->lock_fd = -1;
}

void sk__store_release(sk__store_t *s) {
  free(s->dir);
  s->dir = NULL;
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  s->lock_fd = -1;
}

int sk__mkdirs(const char *path, char *err, size_t errlen) {
  char buf[PATH_CAP];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(buf)) {
    snprintf(err, errlen, "invalid directory name \"%.80s\"", path);
    return SK_EINVAL;
  }
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
      return SK_EIO;
    }
    buf[i] = c;
  }
  struct stat sb;
  if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
    snprintf(err, errlen, "%s is not a directory", path);
    return SK_EIO;
  }
  return 0;
}

static int path_in(const sk__store_t *s, const char *name, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%s/%s", s->dir, name);
  return (n < 0 || (size_t)n >= outlen) ? SK_ETOOBIG : 0;
}

static bool exists_in(const sk__store_t *s, const char *name) {
  char p[PATH_CAP];
  struct stat sb;
  return path_in(s, name, p, sizeof(p)) == 0 && stat(p, &sb) == 0;
}

/* Resolves dir to an absolute path (it exists) and takes the lock. */
static int open_dir(sk__store_t *s, const char *dir, char *err, size_t errlen) {
  char *abs = realpath(dir, NULL);
  if (!abs) {
    int e = errno;
    snprintf(err, errlen, "%s: %s", dir, e == ENOENT ? "no such run directory" : strerror(e));
    return e == ENOENT ? SK_ENOENT : SK_EIO;
  }
  if (strlen(abs) > PATH_CAP / 2) {
    snprintf(err, errlen, "the run directory path is too long (%zu bytes)", strlen(abs));
    free(abs);
    return SK_ETOOBIG;
  }
  s->dir = abs;
  char p[PATH_CAP];
  path_in(s, "lock", p, sizeof(p));
  s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->lock_fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
    return SK_EIO;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    close(s->lock_fd);
    s->lock_fd = -1;
    if (e == EWOULDBLOCK) {
      snprintf(err, errlen, "another skeinctl is working on the run in %s", dir);
      return SK_ESTATE;
    }
    snprintf(err, errlen, "cannot lock %s: %s", p, strerror(e));
    return SK_EIO;
  }
  return 0;
}

int sk__store_create(sk__store_t *s, const char *dir, char *err, size_t errlen) {
  int rc = sk__mkdirs(dir, err, errlen);
  if (rc < 0)
    return rc;
  rc = open_dir(s, dir, err, errlen);
  if (rc < 0)
    goto fail;
  if (exists_in(s, "workflow.json") || exists_in(s, "status.json")) {
    snprintf(err, errlen,
             "%s already holds a run; continue it with `skeinctl run --resume %s`, or choose "
             "another directory with --workdir",
             dir, dir);
    rc = SK_EEXIST;
    goto fail;
  }
  char p[PATH_CAP];
  path_in(s, "steps", p, sizeof(p));
  rc = sk__mkdirs(p, err, errlen);
  if (rc < 0)
    goto fail;
  return 0;
fail:
  sk__store_release(s);
  return rc;
}

int sk__store_open(sk__store_t *s, const char *dir, char *err, size_t errlen) {
  int rc = open_dir(s, dir, err, errlen);
  if (rc < 0)
    goto fail;
  if (!exists_in(s, "workflow.json")) {
    snprintf(err, errlen, "%s holds no run to resume (no workflow.json)", dir);
    rc = SK_ENOENT;
    goto fail;
  }
  return 0;
fail:
  sk__store_release(s);
  return rc;
}

int sk__store_write_json(const sk__store_t *s, const char *name, json_t *j, char *err,
                         size_t errlen) {
  char path[PATH_CAP], tmp[PATH_CAP];
  /* The temporary file sits in the same directory as the file, so the
   * rename stays within one file system: ".<leaf>.tmp". */
  const char *slash = strrchr(name, '/');
  size_t dirlen = slash ? (size_t)(slash - name) + 1 : 0;
  int n = snprintf(tmp, sizeof(tmp), "%s/%.*s.%s.tmp", s->dir, (int)dirlen, name,
                   name + dirlen);
  if (n < 0 || (size_t)n >= sizeof(tmp) || path_in(s, name, path, sizeof(path)) < 0) {
    snprintf(err, errlen, "path too long");
    return SK_ETOOBIG;
  }
  FILE *f = fopen(tmp, "we");
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    return SK_EIO;
  }
  int bad = json_dumpf(j, f, JSON_INDENT(2)) < 0;
  bad |= fputc('\n', f) == EOF;
  bad |= fflush(f) != 0;
  int e = errno;
  bad |= fclose(f) != 0;
  if (bad) {
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(e ? e : errno));
    unlink(tmp);
    return SK_EIO;
  }
  if (rename(tmp, path) < 0) {
    snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    return SK_EIO;
  }
  return 0;
}

int sk__store_read_json(const sk__store_t *s, const char *name, json_t **out, char *err,
                        size_t errlen) {
  char path[PATH_CAP];
  *out = NULL;
  if (path_in(s, name, path, sizeof(path)) < 0) {
    snprintf(err, errlen, "path too long");
    return SK_ETOOBIG;
  }
  json_error_t jerr;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    struct stat sb;
    if (stat(path, &sb) < 0) {
      snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
      return errno == ENOENT ? SK_ENOENT : SK_EIO;
    }
    snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    return SK_EPARSE;
  }
  *out = j;
  return 0;
}

int sk__store_step_path(const sk__store_t *s, const char *instance, const char *leaf,
                        sk_buf_t *out) {
  sk_buf_reset(out);
  if (leaf)
    return sk_buf_printf(out, "%s/steps/%s/%s", s->dir, instance, leaf);
  return sk_buf_printf(out, "%s/steps/%s", s->dir, instance);
}

int sk__store_make_step_dirs(const sk__store_t *s, const char *instance, char *err,
                             size_t errlen) {
  sk_buf_t p;
  sk_buf_init(&p, PATH_CAP);
  int rc = sk__store_step_path(s, instance, "work", &p);
  if (rc < 0) {
    snprintf(err, errlen, "path too long");
  } else {
    rc = sk__mkdirs(p.data, err, errlen);
  }
  sk_buf_release(&p);
  return rc;
}

static bool is_attempt_file(const char *name) {
  size_t n = strlen(name);
  if (strncmp(name, "attempt-", 8) == 0 && n > 12 && strcmp(name + n - 4, ".log") == 0)
    return true;
  return strncmp(name, "outputs-", 8) == 0 && n > 8;
}

/* Empties and removes dir, which holds only plain files. */
static void remove_flat_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char p[PATH_CAP];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    int n = snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    if (n > 0 && (size_t)n < sizeof(p))
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

int sk__store_set_aside(const sk__store_t *s, const char *instance) {
  char dir[PATH_CAP], prev[PATH_CAP], from[PATH_CAP], to[PATH_CAP];
  int n = snprintf(dir, sizeof(dir), "%s/steps/%s", s->dir, instance);
  if (n < 0 || (size_t)n >= sizeof(dir))
    return SK_ETOOBIG;
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT ? 0 : SK_EIO;
  n = snprintf(prev, sizeof(prev), "%s/previous", dir);
  if (n < 0 || (size_t)n >= sizeof(prev)) {
    closedir(d);
    return SK_ETOOBIG;
  }
  bool made = false;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!is_attempt_file(e->d_name))
      continue;
    if (!made) {
      remove_flat_dir(prev);
      if (mkdir(prev, 0755) < 0) {
        rc = SK_EIO;
        break;
      }
      made = true;
    }
    n = snprintf(from, sizeof(from), "%s/%s", dir, e->d_name);
    int m = snprintf(to, sizeof(to), "%s/%s", prev, e->d_name);
    if (n < 0 || (size_t)n >= sizeof(from) || m < 0 || (size_t)m >= sizeof(to) ||
        rename(from, to) < 0) {
      rc = SK_EIO;
      break;
    }
  }
  closedir(d);
  return rc;
}

/* n of "job-<n>.json", or 0 for any other name. */
static int job_number(const char *name) {
  if (strncmp(name, "job-", 4) != 0)
    return 0;
  const char *p = name + 4;
  long v = 0;
  const char *digits = p;
  while (*p >= '0' && *p <= '9' && v < INT_MAX / 10)
    v = v * 10 + (*p++ - '0');
  if (p == digits || *digits == '0' || strcmp(p, ".json") != 0)
    return 0;
  return (int)v;
}

int sk__store_last_job(const sk__store_t *s, const char *instance, int *n, json_t **job) {
  char dir[PATH_CAP];
  *n = 0;
  *job = NULL;
  int len = snprintf(dir, sizeof(dir), "%s/steps/%s", s->dir, instance);
  if (len < 0 || (size_t)len >= sizeof(dir))
    return SK_ETOOBIG;
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT ? 0 : SK_EIO;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int k = job_number(e->d_name);
    if (k > *n)
      *n = k;
  }
  closedir(d);
  if (*n == 0)
    return 0;
  char name[PATH_CAP];
  len = snprintf(name, sizeof(name), "steps/%s/job-%d.json", instance, *n);
  if (len < 0 || (size_t)len >= sizeof(name))
    return SK_ETOOBIG;
  char err[256];
  /* An unreadable record still counts: its number is never used again. */
  if (sk__store_read_json(s, name, job, err, sizeof(err)) < 0)
    *job = NULL;
  return 0;
}
