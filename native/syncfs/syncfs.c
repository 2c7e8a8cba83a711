// syncfs(2) for Node, which has none: writes out everything cached for the file system that
// holds a folder (its files' data, the folders' entries, the journal), in one call. An apply
// makes 500 Maildirs at a time and makes them durable with one of these instead of 500 fsyncs
// (src/support/durable.ts rule 10). It runs on libuv's thread pool: it waits for the disk.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int err;  // errno of the open or the syncfs, 0 when both succeeded
} Job;

static void run(napi_env env, void *data) {
  (void)env;
  Job *job = data;
  int fd = open(job->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    job->err = errno;
    return;
  }
  job->err = syncfs(fd) == 0 ? 0 : errno;
  close(fd);
}

static void done(napi_env env, napi_status status, void *data) {
  Job *job = data;
  if (status != napi_ok && job->err == 0) job->err = ECANCELED;
  if (job->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, job->deferred, undef);
  } else {
    napi_value msg, code, error;
    napi_create_string_utf8(env, strerror(job->err), NAPI_AUTO_LENGTH, &msg);
    napi_create_int32(env, job->err, &code);
    napi_create_error(env, NULL, msg, &error);
    napi_set_named_property(env, error, "errno", code);
    napi_reject_deferred(env, job->deferred, error);
  }
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

// syncfs(folder) -> Promise<void>: rejects with the error (and its errno) of the open or the syncfs.
static napi_value syncfs_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, NULL, "syncfs(folder): folder must be a non-empty string");
    return NULL;
  }
  Job *job = calloc(1, sizeof *job);
  if (job) job->path = malloc(len + 1);
  if (!job || !job->path) {
    if (job) free(job);
    napi_throw_error(env, NULL, "syncfs: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], job->path, len + 1, &len);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "syncfs", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run, done, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "syncfs", NAPI_AUTO_LENGTH, syncfs_js, NULL, &fn);
  napi_set_named_property(env, exports, "syncfs", fn);
  return exports;
}
