#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs two small consumers: one through
# pkg-config, one through CMake's find_package. Also checks that the shared libraries export only
# the public xr_ names (everything else, hiredis's and jansson's symbols included, stays hidden).
# Usage: check.sh <build dir> <source dir>
set -euo pipefail
unset LIBRARY_PATH
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

libdir="$prefix/lib"
[ -d "$libdir/pkgconfig" ] || libdir=$(dirname "$(find "$prefix" -name crossredis.pc | head -n 1)")/..
for lib in crossredis crossredis_tls; do
  so="$libdir/lib$lib.so"
  [ -f "$so" ] || { echo "FAIL: $so was not installed"; exit 1; }
  leaked=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^xr_' || true)
  if [ -n "$leaked" ]; then echo "FAIL: lib$lib.so exports non-public symbols:"; echo "$leaked" | head; exit 1; fi
  echo "ok: lib$lib.so exports only xr_* ($(nm -D --defined-only "$so" | grep -c ' xr_') symbols)"
done
for h in client.h tls.h json.h keys.h timestamp.h error.h errors.def alloc.h export.h; do
  [ -f "$prefix/include/crossredis/$h" ] || { echo "FAIL: header $h not installed"; exit 1; }
done

cat > "$work/consumer.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <crossredis/client.h>
#include <crossredis/tls.h>
#include <crossredis/keys.h>
#include <crossredis/error.h>
int main(void) {
  xr_url *u = NULL;
  if (xr_url_parse(&u, "rediss://127.0.0.1:6390?insecure=true") != 0) return 1;
  xr_url_free(u);
  xr_tls *t = NULL;
  xr_tls_options o = XR_TLS_OPTIONS_INIT;
  o.insecure = 1;
  if (xr_tls_new(&t, &o) != 0) { puts(xr_error_last()->message); return 1; }
  xr_tls_free(t);
  printf("%u %s\n", xr_key_slot("somekey", 7), xr_strerror(XR_ETIMEOUT));
  return 0;
}
C
export PKG_CONFIG_PATH="$libdir/pkgconfig:$src/.deps/hiredis/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
cc -std=c11 -Wall -Werror "$work/consumer.c" -o "$work/by-pkgconfig" \
  $(pkg-config --cflags --libs crossredis_tls crossredis) -Wl,-rpath,"$libdir"
out=$("$work/by-pkgconfig")
[ "$out" = "11058 timed out" ] || { echo "FAIL: pkg-config consumer printed '$out'"; exit 1; }
echo "ok: pkg-config consumer built and ran"

mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(crossredis REQUIRED)
add_executable(consumer ../consumer.c)
target_link_libraries(consumer PRIVATE crossredis::crossredis_tls crossredis::crossredis)
CM
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm/build" >/dev/null
out=$("$work/cm/build/consumer")
[ "$out" = "11058 timed out" ] || { echo "FAIL: find_package consumer printed '$out'"; exit 1; }
echo "ok: find_package consumer built and ran"
