// Who is on the other end of a Unix socket, as the kernel reports it (SO_PEERCRED): the pid,
// uid and gid of the process that connected, and the user name of that uid. Node has no
// built-in for this; a client cannot change what the kernel recorded when it connected.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>

static napi_value set_int(napi_env env, napi_value obj, const char *key, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  napi_set_named_property(env, obj, key, n);
  return obj;
}

// peer(fd) -> { pid, uid, gid, user }; user is null when the uid has no passwd entry.
static napi_value peer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peer(fd): fd must be a non-negative number");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value out;
  napi_create_object(env, &out);
  set_int(env, out, "pid", cred.pid);
  set_int(env, out, "uid", cred.uid);
  set_int(env, out, "gid", cred.gid);
  struct passwd pw, *found = NULL;
  char buf[16384];
  napi_value name;
  if (getpwuid_r(cred.uid, &pw, buf, sizeof buf, &found) == 0 && found)
    napi_create_string_utf8(env, found->pw_name, NAPI_AUTO_LENGTH, &name);
  else
    napi_get_null(env, &name);
  napi_set_named_property(env, out, "user", name);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "peer", NAPI_AUTO_LENGTH, peer, NULL, &fn);
  napi_set_named_property(env, exports, "peer", fn);
  return exports;
}
