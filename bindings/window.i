/* Key families (family.h) and migration windows (window.h) in the bindings: families from their two
 * shapes or a family file, their keys; windows from plain arguments (xr_binding_window_new) and
 * their generic calls (a command without its key, the reply as the client's command gives it).
 * Included by crossredis.i for the languages that define XR_BINDING_WINDOW: their file gives the
 * typemaps of the field values `(const xr_key_span *SPANS, size_t N)` (a sequence of texts),
 * `(xr_family ***FAMILIES, size_t *N)` (a list of families) and the reply, the command and the
 * counts out. Node reaches both through its bridge (window_bridge.cc). */
%{
#include "crossredis/family.h"
#include "crossredis/window.h"
%}

%ignore xr_family_list_free;
%ignore xr_family_old_pattern;
%ignore xr_family_new_pattern;
%ignore xr_window_options;
%ignore xr_window_new;
%ignore xr_window_family;
%ignore XR_WINDOW_OPTIONS_INIT;
%ignore XR_WINDOW_OPTIONS_VERSION;

%apply (const char *BYTES, size_t LEN) {
  (const char *old_pattern, size_t old_len), (const char *new_pattern, size_t new_len),
  (const char *text, size_t len), (const char *old_key, size_t old_len)
};
%apply (char **OUT_BYTES, size_t *OUT_LEN) {
  (char **old_key, size_t *old_len), (char **new_key, size_t *new_len)
};
%apply (const xr_key_span *SPANS, size_t N) { (const xr_key_span *values, size_t n) };
%apply (xr_family ***FAMILIES, size_t *N) { (xr_family ***out, size_t *n) };
%apply (int argc, const char *const *argv, const size_t *argvlen) {
  (int argc, const char *const *argv, const size_t *lens)
};
%apply xr_reply **out { xr_reply **reply };
%apply int *OUTPUT { int *deleted };
%apply size_t *COUNT_OUT { size_t *remaining };
%apply (const char **OUT_BORROWED, size_t *OUT_LEN) { (const char **text, size_t *len) };

%include "crossredis/family.h"
%include "crossredis/window.h"
