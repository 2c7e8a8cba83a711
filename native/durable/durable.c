// The calls of src/support/durable.ts that Node has no single call for, run on libuv's thread
// pool (they wait for the disk):
//
// - syncfs(folder): syncfs(2), which Node lacks: writes out everything cached for the file
//   system that holds a folder (its files' data, the folders' entries, the journal), in one
//   call. An apply makes 500 Maildirs at a time and makes them durable with one of these
//   instead of 500 fsyncs (durable.ts rule 10).
// - writeRename(tmp, final, parts, mode, syncFolder): a delivery's whole crash ordering (rule 4)
//   in one trip to the pool: `tmp` created (it must not exist) with the parts written in order,
//   fsynced and closed, renamed to `final`, and, if syncFolder, final's folder fsynced. In
//   JavaScript those are two trips (the file's fsync, then the folder's) with the event loop
//   woken after each, and the open, write, close and rename on the event loop's own thread.
//   A failure before the rename leaves nothing (the part written is removed); a failed rename
//   leaves `tmp` whole for the caller; the error says which call failed (`syscall`) and how far
//   the work got (`renamed`).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/** The most parts one writeRename takes (a delivery has a handful). */
#define MAX_PARTS 16

static void reject_errno(napi_env env, napi_deferred deferred, int err, const char *syscall, bool renamed) {
  napi_value msg, code, name, error, flag;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg);
  napi_create_int32(env, err, &code);
  napi_create_error(env, NULL, msg, &error);
  napi_set_named_property(env, error, "errno", code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, error, "syscall", name);
  napi_get_boolean(env, renamed, &flag);
  napi_set_named_property(env, error, "renamed", flag);
  napi_reject_deferred(env, deferred, error);
}

static void resolve_undefined(napi_env env, napi_deferred deferred) {
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_resolve_deferred(env, deferred, undef);
}

/** A copy of a JavaScript string argument, or NULL (a TypeError is pending) if it is not a non-empty string. */
static char *string_arg(napi_env env, napi_value v, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) {
    napi_throw_error(env, NULL, "durable: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

// ---- syncfs ----

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int err;  // errno of the open or the syncfs, 0 when both succeeded
} SyncJob;

static void syncfs_run(napi_env env, void *data) {
  (void)env;
  SyncJob *job = data;
  int fd = open(job->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    job->err = errno;
    return;
  }
  job->err = syncfs(fd) == 0 ? 0 : errno;
  close(fd);
}

static void syncfs_done(napi_env env, napi_status status, void *data) {
  SyncJob *job = data;
  if (status != napi_ok && job->err == 0) job->err = ECANCELED;
  if (job->err == 0) resolve_undefined(env, job->deferred);
  else reject_errno(env, job->deferred, job->err, "syncfs", false);
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

// syncfs(folder) -> Promise<void>: rejects with the error (and its errno) of the open or the syncfs.
static napi_value syncfs_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "syncfs(folder): folder must be a non-empty string");
    return NULL;
  }
  SyncJob *job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, NULL, "syncfs: out of memory");
    return NULL;
  }
  job->path = string_arg(env, argv[0], "syncfs(folder): folder must be a non-empty string");
  if (!job->path) {
    free(job);
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "syncfs", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, syncfs_run, syncfs_done, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

// ---- writeRename ----

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref parts;  // the Buffers written, kept alive until the work is done
  char *tmp;
  char *final;
  struct iovec iov[MAX_PARTS];
  int count;
  int mode;
  bool sync_folder;
  int err;
  const char *syscall;
  bool renamed;
} WriteJob;

/** Writes every byte of the parts at the file's start; -1 with errno set on failure. */
static int write_all(int fd, struct iovec *iov, int count) {
  while (count > 0) {
    ssize_t n = writev(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    size_t left = (size_t)n;
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      // A short write: the rest of this part, then the others. Nothing written at all for a
      // part that has bytes would loop for ever: said as the disk's error.
      if (n == 0) {
        errno = EIO;
        return -1;
      }
      iov->iov_base = (char *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

static void fail(WriteJob *job, const char *syscall) {
  job->err = errno;
  job->syscall = syscall;
}

static void write_run(napi_env env, void *data) {
  (void)env;
  WriteJob *job = data;
  int fd = open(job->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, job->mode);
  if (fd < 0) {
    fail(job, "open");
    return;
  }
  if (write_all(fd, job->iov, job->count) < 0) fail(job, "write");
  else if (fsync(fd) < 0) fail(job, "fsync");
  if (close(fd) < 0 && !job->err) fail(job, "close");
  if (job->err) {
    // Made here, and not whole: removed, so a failure leaves nothing.
    unlink(job->tmp);
    return;
  }
  if (rename(job->tmp, job->final) < 0) {
    fail(job, "rename");
    return;
  }
  job->renamed = true;
  if (!job->sync_folder) return;
  // The folder of `final`: its path up to the last slash (the caller gives an absolute path).
  char *slash = strrchr(job->final, '/');
  if (!slash || slash == job->final) {
    errno = EINVAL;
    fail(job, "open");
    return;
  }
  *slash = '\0';
  int dir = open(job->final, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *slash = '/';
  if (dir < 0) {
    fail(job, "open");
    return;
  }
  if (fsync(dir) < 0) fail(job, "fsync");
  close(dir);
}

static void write_done(napi_env env, napi_status status, void *data) {
  WriteJob *job = data;
  if (status != napi_ok && job->err == 0) {
    job->err = ECANCELED;
    job->syscall = "writeRename";
  }
  if (job->err == 0) resolve_undefined(env, job->deferred);
  else reject_errno(env, job->deferred, job->err, job->syscall, job->renamed);
  napi_delete_reference(env, job->parts);
  napi_delete_async_work(env, job->work);
  free(job->tmp);
  free(job->final);
  free(job);
}

static void free_write_job(WriteJob *job) {
  free(job->tmp);
  free(job->final);
  free(job);
}

// writeRename(tmp, final, parts: Buffer[], mode, syncFolder) -> Promise<void> (see the top).
static napi_value write_rename_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *usage = "writeRename(tmp, final, parts, mode, syncFolder): wrong arguments";
  if (argc < 5) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  WriteJob *job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, NULL, "writeRename: out of memory");
    return NULL;
  }
  job->tmp = string_arg(env, argv[0], usage);
  if (job->tmp) job->final = string_arg(env, argv[1], usage);
  if (!job->tmp || !job->final) {
    free_write_job(job);
    return NULL;
  }
  uint32_t count = 0;
  bool is_array = false;
  napi_is_array(env, argv[2], &is_array);
  if (!is_array || napi_get_array_length(env, argv[2], &count) != napi_ok || count > MAX_PARTS) {
    free_write_job(job);
    napi_throw_type_error(env, NULL, "writeRename: parts must be an array of at most 16 Buffers");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value part;
    bool is_buffer = false;
    napi_get_element(env, argv[2], i, &part);
    napi_is_buffer(env, part, &is_buffer);
    if (!is_buffer) {
      free_write_job(job);
      napi_throw_type_error(env, NULL, "writeRename: parts must be an array of at most 16 Buffers");
      return NULL;
    }
    void *bytes = NULL;
    size_t len = 0;
    napi_get_buffer_info(env, part, &bytes, &len);
    job->iov[i].iov_base = bytes;
    job->iov[i].iov_len = len;
  }
  job->count = (int)count;
  int32_t mode = 0600;
  napi_get_value_int32(env, argv[3], &mode);
  job->mode = mode & 07777;
  // Anything but false syncs the folder: a wrong argument costs an fsync, never the guarantee.
  job->sync_folder = true;
  bool sync_folder = true;
  if (napi_get_value_bool(env, argv[4], &sync_folder) == napi_ok) job->sync_folder = sync_folder;
  // The array holds the Buffers: while it is referenced, none of them is collected.
  napi_create_reference(env, argv[2], 1, &job->parts);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "writeRename", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, write_run, write_done, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "syncfs", NAPI_AUTO_LENGTH, syncfs_js, NULL, &fn);
  napi_set_named_property(env, exports, "syncfs", fn);
  napi_create_function(env, "writeRename", NAPI_AUTO_LENGTH, write_rename_js, NULL, &fn);
  napi_set_named_property(env, exports, "writeRename", fn);
  return exports;
}
