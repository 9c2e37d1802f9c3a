/* What the harnesses share: the libFuzzer entry point's declaration and a property check that
 * aborts (libFuzzer then saves the input as a crash) with what failed. */
#ifndef XR_FUZZ_H
#define XR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* jansson seeds its hash function from /dev/urandom; a fixed seed keeps runs reproducible (call
 * it from LLVMFuzzerInitialize, before any JSON value exists). */
#define FUZZ_FIXED_JSON_SEED()                                                                      \
  int LLVMFuzzerInitialize(int *argc, char ***argv) {                                               \
    (void)argc;                                                                                     \
    (void)argv;                                                                                     \
    json_object_seed(1);                                                                            \
    return 0;                                                                                       \
  }

/* A property that must hold for every input. */
#define FUZZ_CHECK(cond, ...)                                                                       \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      fprintf(stderr, "%s:%d: property failed: %s\n  ", __FILE__, __LINE__, #cond);                 \
      fprintf(stderr, __VA_ARGS__);                                                                 \
      fprintf(stderr, "\n  last error: %s\n", xr_error_last()->message);                           \
      abort();                                                                                      \
    }                                                                                               \
  } while (0)

/* A failing call must leave a message saying why. */
#define FUZZ_CHECK_FAILED_WITH_MESSAGE(rc)                                                          \
  FUZZ_CHECK((rc) < 0 && xr_error_last()->code == (rc) && xr_error_last()->message[0] != '\0',     \
             "a failure (%d) without its recorded code and message", (int)(rc))

/* A NUL-terminated copy of the input (the harness frees it). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

#endif
