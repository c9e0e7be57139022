// Not Linux: no SO_ORIGINAL_DST, no splice(2). The addon still loads and says so; native/index
// falls back to stream piping and transparent mode refuses to start with a clear message.
#define NAPI_VERSION 8
#include <node_api.h>

static napi_value RegisterModule(napi_env env, napi_value exports) {
  napi_value v;
  napi_get_boolean(env, true, &v);
  napi_set_named_property(env, exports, "unsupported", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, RegisterModule)
