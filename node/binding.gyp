# The addon crossredis_native: the SWIG Node-API wrapper (C++), the binding helpers, the whole C
# core (tls.c included), hiredis 1.2.0's sources and jansson (the position-independent static
# archive scripts/bootstrap builds into .deps/jansson), in one shared object that needs nothing
# beyond libc, libm, libstdc++, libgcc_s and the node binary. OpenSSL comes from the node process
# itself (Node's bundled OpenSSL: headers from <nodedir>/include/node/openssl, symbols resolved at
# load time); the addon never links libssl/libcrypto. Build: npm run build (which runs
# node-gyp rebuild --nodedir=/usr: the local headers, nothing downloaded).
{
  "variables": {
    "hiredis_src": "../.deps/src/hiredis-1.2.0",
    "jansson_prefix": "<(module_root_dir)/../.deps/jansson",
  },
  "targets": [
    {
      "target_name": "crossredis_native",
      "sources": [
        "build-swig/crossredis_wrap.cxx",
        "../bindings/javascript/bridge.cc",
        "../bindings/javascript/chat_bridge.cc",
        "../bindings/javascript/session_bridge.cc",
        "../bindings/javascript/ayepi_bridge.cc",
        "../bindings/javascript/xp_bridge.cc",
        "../bindings/javascript/window_bridge.cc",
        "../bindings/javascript/subscriber_bridge.cc",
        "../bindings/binding.c",
        # the core's one source list (CMake reads it too)
        "<!@(node -p \"require('fs').readFileSync('../core/sources.txt','utf8').split('\\n').filter(l=>/^[^#].*\\.c$/.test(l)).map(f=>'../core/src/'+f).join(' ')\")",
      ],
      "include_dirs": [
        "<(node_root_dir)/include/node",  # first: <openssl/*.h> are Node's bundled OpenSSL
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../core/include",
        "../core/src",
        "../bindings",
        "../bindings/javascript",
        "<(hiredis_src)",
        "../.deps/hiredis/include",
        "<(jansson_prefix)/include",
      ],
      "defines": [
        "XR_STATIC",
        "NAPI_VERSION=8",
      ],
      # SWIG -napi's generated fragments need C++ exceptions (their Maybe mode does not compile).
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-fvisibility=hidden"],
      "cflags_c": ["-std=c11", "-D_DEFAULT_SOURCE", "-D_POSIX_C_SOURCE=200809L"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wno-unused-function", "-Wno-unused-variable"],
      "dependencies": ["hiredis"],
      "libraries": ["<(jansson_prefix)/lib/libjansson.a", "-lpthread"],
      # jansson's symbols stay inside the addon (it exports the Node-API entry points alone)
      "ldflags": ["-Wl,--exclude-libs,libjansson.a"],
    },
    {
      # hiredis 1.2.0 with its TLS part, from the source the bootstrap unpacked; a static library
      # linked into the addon (its fmacros.h sets the feature macros it wants, so no -D here).
      "target_name": "hiredis",
      "type": "static_library",
      "sources": [
        "<(hiredis_src)/alloc.c",
        "<(hiredis_src)/async.c",
        "<(hiredis_src)/hiredis.c",
        "<(hiredis_src)/net.c",
        "<(hiredis_src)/read.c",
        "<(hiredis_src)/sds.c",
        "<(hiredis_src)/sockcompat.c",
        "<(hiredis_src)/ssl.c",
      ],
      "include_dirs": ["<(node_root_dir)/include/node", "<(hiredis_src)"],
      "cflags": ["-fvisibility=hidden", "-fPIC"],
      "cflags_c": ["-std=c99"],
    }
  ]
}
