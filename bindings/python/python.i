/* The private Python module crossredis._native: typemaps for Python, then the shared interface.
 * Built with -builtin -threads: every call releases the GIL while C runs (network calls included);
 * typemaps that touch Python objects run with it held. */
%module(package="crossredis") native  /* the extension is _native: SWIG names it _<module> */

%{
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/client.h"
#include "crossredis/error.h"

/* code -> exception class, given by the Python layer (crossredis/errors.py) at import. */
static PyObject *xr_py_error_classes = NULL;

static void xr_py_raise(int code) {
  PyObject *cls = NULL;
  if (xr_py_error_classes) {
    PyObject *k = PyLong_FromLong(code);
    if (k) {
      cls = PyDict_GetItemWithError(xr_py_error_classes, k);
      Py_DECREF(k);
    }
  }
  const char *msg = xr_error_last()->message;
  if (!PyErr_Occurred()) PyErr_SetString(cls ? cls : PyExc_RuntimeError, msg[0] ? msg : xr_strerror(code));
}

/* A value that cannot become the C argument (a lone surrogate, a NUL in a C string, an integer past
 * 64 bits) is the core's InvalidArgumentError, in the words the Node binding uses too. */
static void xr_py_invalid(const char *fmt, ...) {
  PyObject *cls = NULL;
  if (xr_py_error_classes) {
    PyObject *k = PyLong_FromLong(XR_EINVAL);
    if (k) {
      cls = PyDict_GetItemWithError(xr_py_error_classes, k);
      Py_DECREF(k);
    }
  }
  va_list ap;
  va_start(ap, fmt);
  PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  if (msg) {
    PyErr_SetObject(cls ? cls : PyExc_ValueError, msg);
    Py_DECREF(msg);
  }
}

/* The UTF-8 of a str argument, or NULL with InvalidArgumentError naming `name` and the first lone
 * surrogate (UTF-8 cannot hold one; Python strs can). */
static const char *xr_py_utf8(PyObject *o, Py_ssize_t *len, const char *name) {
  const char *p = PyUnicode_AsUTF8AndSize(o, len);
  if (p || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return p;
  PyErr_Clear();
  Py_ssize_t n = PyUnicode_GetLength(o);
  for (Py_ssize_t i = 0; i < n; i++) {
    Py_UCS4 ch = PyUnicode_ReadChar(o, i);
    if (ch >= 0xD800 && ch <= 0xDFFF) {
      char hex[8];
      snprintf(hex, sizeof hex, "%04X", (unsigned)ch);
      xr_py_invalid("%s: not valid Unicode (a lone surrogate U+%s at index %zd)", name, hex, i);
      return NULL;
    }
  }
  xr_py_invalid("%s: not valid Unicode", name);
  return NULL;
}

/* A reply as Python values: bulk strings as bytes, status as str, integers, None, lists, floats. */
static PyObject *xr_py_reply(const xr_reply *r) {
  size_t n;
  const char *s;
  switch (xr_reply_kind(r)) {
    case XR_REPLY_STRING:
      s = xr_reply_str(r, &n);
      return PyBytes_FromStringAndSize(s, (Py_ssize_t)n);
    case XR_REPLY_STATUS:
      s = xr_reply_str(r, &n);
      return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
    case XR_REPLY_INTEGER:
      return PyLong_FromLongLong(xr_reply_integer(r));
    case XR_REPLY_DOUBLE:
      s = xr_reply_str(r, &n);
      return PyFloat_FromDouble(PyOS_string_to_double(s, NULL, NULL));
    case XR_REPLY_ARRAY:
    case XR_REPLY_SET:
    case XR_REPLY_MAP: {
      size_t count = xr_reply_count(r);
      PyObject *list = PyList_New((Py_ssize_t)count);
      if (!list) return NULL;
      for (size_t i = 0; i < count; i++) {
        PyObject *item = xr_py_reply(xr_reply_at(r, i));
        if (!item) {
          Py_DECREF(list);
          return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
      }
      return list;
    }
    default:
      Py_RETURN_NONE;
  }
}

/* Arguments for a command: str (UTF-8), bytes, int or float; the texts of numbers are kept alive
 * in `keep` until the call returns. */
typedef struct xr_py_argv {
  int argc;
  const char **argv;
  size_t *lens;
  PyObject *keep;
} xr_py_argv;

/* `what` names the items in errors ("command argument", "field value"); `min` to 1000000 of them,
 * else ValueError(`count_error`). */
static int xr_py_texts_fill(xr_py_argv *a, PyObject *seq, Py_ssize_t min, const char *what, const char *count_error) {
  PyObject *fast = PySequence_Fast(seq, "command arguments must be a sequence");
  if (!fast) return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  if (n < min || n > 1000000) {
    Py_DECREF(fast);
    PyErr_SetString(PyExc_ValueError, count_error);
    return -1;
  }
  a->argc = (int)n;
  a->argv = PyMem_Calloc((size_t)(n ? n : 1), sizeof *a->argv);
  a->lens = PyMem_Calloc((size_t)(n ? n : 1), sizeof *a->lens);
  a->keep = PyList_New(0);
  if (!a->argv || !a->lens || !a->keep) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
    Py_ssize_t len = 0;
    char *p = NULL;
    if (PyLong_Check(item) || PyFloat_Check(item)) {
      PyObject *text = PyObject_Str(item);
      if (!text || PyList_Append(a->keep, text) < 0) {
        Py_XDECREF(text);
        Py_DECREF(fast);
        return -1;
      }
      Py_DECREF(text);
      item = text;
    }
    if (PyUnicode_Check(item)) {
      char name[80];
      snprintf(name, sizeof name, "%s %zd", what, i);
      p = (char *)xr_py_utf8(item, &len, name);
    } else if (PyBytes_Check(item)) {
      if (PyBytes_AsStringAndSize(item, &p, &len) < 0) p = NULL;
    } else {
      PyErr_Format(PyExc_TypeError, "%s %zd is %.100s: expected str, bytes, int or float", what, i,
                   Py_TYPE(item)->tp_name);
    }
    if (!p) {
      Py_DECREF(fast);
      return -1;
    }
    a->argv[i] = p;
    a->lens[i] = (size_t)len;
  }
  /* the items stay alive through `seq`, which the caller holds during the call */
  Py_DECREF(fast);
  return 0;
}

static int xr_py_argv_fill(xr_py_argv *a, PyObject *seq) {
  return xr_py_texts_fill(a, seq, 1, "command argument", "a command needs 1 to 1000000 arguments");
}

static void xr_py_argv_free(xr_py_argv *a) {
  PyMem_Free(a->argv);
  PyMem_Free(a->lens);
  Py_XDECREF(a->keep);
}
%}

%inline %{
/* Registers the exception classes: a dict of code -> class. */
void xr_py_set_error_classes(PyObject *classes) {
  Py_XINCREF(classes);
  Py_XDECREF(xr_py_error_classes);
  xr_py_error_classes = classes;
}
%}
%nothreadallow xr_py_set_error_classes;

/* Every int result: a negative one is an error code, raised as its class. */
%typemap(out) int {
  if ($1 < 0) {
    xr_py_raise($1);
    SWIG_fail;
  }
  $result = PyLong_FromLong($1);
}

/* A C string argument: a str (or None: NULL) with no NUL inside, which C would cut the string at
 * (a key prefix "a\0b" would write under the prefix "a"). */
%typemap(in) const char * (Py_ssize_t n_ = 0, const char *p_ = NULL) {
  if ($input == Py_None) {
    $1 = NULL;
  } else if (PyUnicode_Check($input)) {
    if (!(p_ = xr_py_utf8($input, &n_, "$1_name"))) SWIG_fail;
    const char *nul = memchr(p_, 0, (size_t)n_);
    if (nul) {
      Py_ssize_t at_ = 0; /* in code points: the UTF-8 bytes that start one */
      for (const char *q_ = p_; q_ < nul; q_++) at_ += ((unsigned char)*q_ & 0xC0) != 0x80;
      xr_py_invalid("%s: contains NUL (U+0000) at index %zd", "$1_name", at_);
      SWIG_fail;
    }
    $1 = ($1_ltype)p_;
  } else {
    PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", "$1_name", Py_TYPE($input)->tp_name);
    SWIG_fail;
  }
}
%typemap(freearg) const char * ""  /* the str's own UTF-8: nothing to free */
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const char * {
  $1 = $input == Py_None || PyUnicode_Check($input);
}

/* Integers: a Python int past 64 bits is InvalidArgumentError naming the argument; the core checks
 * the range each argument allows. */
%typemap(in) int64_t, long, long long {
  if (!PyLong_Check($input) || PyBool_Check($input)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", "$1_name", Py_TYPE($input)->tp_name);
    SWIG_fail;
  }
  int overflow_ = 0;
  long long v_ = PyLong_AsLongLongAndOverflow($input, &overflow_);
  if (overflow_) {
    xr_py_invalid("%s: %S is out of range for a 64-bit integer", "$1_name", $input);
    SWIG_fail;
  }
  if (v_ == -1 && PyErr_Occurred()) SWIG_fail;
  $1 = ($1_ltype)v_;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INT64) int64_t, long, long long {
  $1 = PyLong_Check($input);
}

/* ...but the error table's `code` member is a value, not a result. */
%typemap(out) int code "$result = PyLong_FromLong($1);"

%typemap(in) (const char *BYTES, size_t LEN) (Py_ssize_t n_ = 0, char *p_ = NULL) {
  if (PyUnicode_Check($input)) {
    p_ = (char *)xr_py_utf8($input, &n_, "$1_name");
    if (!p_) SWIG_fail;
  } else if (PyBytes_Check($input)) {
    if (PyBytes_AsStringAndSize($input, &p_, &n_) < 0) SWIG_fail;
  } else {
    PyErr_Format(PyExc_TypeError, "expected str or bytes, not %.100s", Py_TYPE($input)->tp_name);
    SWIG_fail;
  }
  $1 = p_;
  $2 = (size_t)n_;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) (const char *BYTES, size_t LEN) {
  $1 = PyUnicode_Check($input) || PyBytes_Check($input);
}

/* An optional span: None is NULL ("none" to the function), else as BYTES. */
#define XR_BINDING_OPT_BYTES
%typemap(in) (const char *OPT_BYTES, size_t LEN) (Py_ssize_t n_ = 0, char *p_ = NULL) {
  if ($input != Py_None) {
    if (PyUnicode_Check($input)) {
      p_ = (char *)xr_py_utf8($input, &n_, "$1_name");
      if (!p_) SWIG_fail;
    } else if (PyBytes_Check($input)) {
      if (PyBytes_AsStringAndSize($input, &p_, &n_) < 0) SWIG_fail;
    } else {
      PyErr_Format(PyExc_TypeError, "%s must be a str, bytes or None, not %.100s", "$1_name", Py_TYPE($input)->tp_name);
      SWIG_fail;
    }
  }
  $1 = p_;
  $2 = (size_t)n_;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) (const char *OPT_BYTES, size_t LEN) {
  $1 = $input == Py_None || PyUnicode_Check($input) || PyBytes_Check($input);
}

%typemap(in, numinputs=0) (char **OUT_BYTES, size_t *OUT_LEN) (char *v_ = NULL, size_t n_ = 0) {
  $1 = &v_;
  $2 = &n_;
}
%typemap(argout) (char **OUT_BYTES, size_t *OUT_LEN) {
  PyObject *o_;
  if (*$1) {
    o_ = PyBytes_FromStringAndSize(*$1, (Py_ssize_t)*$2);
  } else {
    Py_INCREF(Py_None);
    o_ = Py_None;
  }
  $result = SWIG_AppendOutput($result, o_);
}
%typemap(freearg) (char **OUT_BYTES, size_t *OUT_LEN) {
  xr_free(*$1);
}

/* Handles made by the C API come back as opaque objects. */
%define XR_PY_OUT_HANDLE(TYPE)
%typemap(in, numinputs=0) TYPE **out (TYPE *h_ = NULL) {
  $1 = &h_;
}
%typemap(argout) TYPE **out {
  $result = SWIG_AppendOutput($result, SWIG_NewPointerObj(*$1, $*1_descriptor, 0));
}
%enddef
XR_PY_OUT_HANDLE(xr_client)
XR_PY_OUT_HANDLE(xr_client_config)
XR_PY_OUT_HANDLE(xr_chat)
XR_PY_OUT_HANDLE(xr_chat_batch)
XR_PY_OUT_HANDLE(xr_chat_watchdog)
XR_PY_OUT_HANDLE(xr_session_storage)
XR_PY_OUT_HANDLE(xr_session_batch)
XR_PY_OUT_HANDLE(xr_script)
XR_PY_OUT_HANDLE(xr_loop_conn)
XR_PY_OUT_HANDLE(xr_ayepi_store)
XR_PY_OUT_HANDLE(xr_ayepi_batch)
XR_PY_OUT_HANDLE(xr_ayepi_sweep)
XR_PY_OUT_HANDLE(xr_ayepi_broker)
XR_PY_OUT_HANDLE(xr_xp_store)
XR_PY_OUT_HANDLE(xr_xp_batch)

/* ---- xp (../xp.i): its listing, info and JSON slot as Python values ---------------------------- */
#define XR_BINDING_XP
%{
#include "crossredis/xp.h"

/* A listing: each item's id as bytes, or (id, value) when it has a value (the registry's). */
static PyObject *xr_py_xp_list(const xr_xp_list *l) {
  size_t n = xr_xp_list_count(l);
  PyObject *out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    xr_result id, val;
    xr_xp_list_id(l, i, &id);
    xr_xp_list_value(l, i, &val);
    PyObject *item = PyBytes_FromStringAndSize(id.fields[0].data, (Py_ssize_t)id.fields[0].len);
    if (item && val.present) {
      PyObject *v = PyBytes_FromStringAndSize(val.fields[0].data, (Py_ssize_t)val.fields[0].len);
      PyObject *pair = v ? PyTuple_Pack(2, item, v) : NULL;
      Py_XDECREF(v);
      Py_SETREF(item, pair);
    }
    if (!item) Py_CLEAR(out);
    else PyList_SET_ITEM(out, (Py_ssize_t)i, item);
  }
  return out;
}

static PyObject *xr_py_span(const char *p, size_t n) {
  if (!p) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
}
%}
%typemap(in, numinputs=0) xr_xp_list **out (xr_xp_list *l_ = NULL) {
  $1 = &l_;
}
%typemap(argout) xr_xp_list **out {
  PyObject *l_ = xr_py_xp_list(*$1);
  if (!l_) SWIG_fail;
  $result = SWIG_AppendOutput($result, l_);
}
%typemap(freearg) xr_xp_list **out {
  xr_xp_list_free(*$1);
}
/* info: (buffer_threads, registry_entries, ttl_seconds) */
%typemap(in, numinputs=0) xr_xp_info *out (xr_xp_info i_) {
  memset(&i_, 0, sizeof i_);
  $1 = &i_;
}
%typemap(argout) xr_xp_info *out {
  $result = SWIG_AppendOutput($result, Py_BuildValue("(nnL)", (Py_ssize_t)$1->buffer_threads,
                                                     (Py_ssize_t)$1->registry_entries, (long long)$1->ttl_seconds));
}
/* a JSON slot read: (thread_id, from_id, to_id, slot_index, timestamp, payload_type, own_name or
 * None, is_self_call, usage_instructions, payload_json), texts as bytes */
%typemap(in, numinputs=0) xr_xp_slot *out (xr_xp_slot s_) {
  memset(&s_, 0, sizeof s_);
  $1 = &s_;
}
%typemap(argout) xr_xp_slot *out {
  PyObject *t_ = Py_BuildValue("(NNNLNNNNNN)", xr_py_span($1->thread_id, $1->thread_id_len),
                               xr_py_span($1->from_id, $1->from_id_len), xr_py_span($1->to_id, $1->to_id_len),
                               (long long)$1->slot_index, xr_py_span($1->timestamp, $1->timestamp_len),
                               xr_py_span($1->payload_type, $1->payload_type_len),
                               xr_py_span($1->own_name, $1->own_name_len), PyBool_FromLong($1->is_self_call),
                               xr_py_span($1->usage_instructions, $1->usage_instructions_len),
                               xr_py_span($1->payload_json, $1->payload_json_len));
  if (!t_) SWIG_fail;
  $result = SWIG_AppendOutput($result, t_);
}
%typemap(freearg) xr_xp_slot *out {
  xr_xp_slot_clear($1);
}

/* Bytes borrowed from the handle (valid until its next call): copied into bytes, None when the
 * function returned 0 (nothing there). */
%typemap(in, numinputs=0) (const char **OUT_BORROWED, size_t *OUT_LEN) (const char *v_ = NULL, size_t n_ = 0) {
  $1 = &v_;
  $2 = &n_;
}
%typemap(argout) (const char **OUT_BORROWED, size_t *OUT_LEN) {
  PyObject *o_ = *$1 ? PyBytes_FromStringAndSize(*$1, (Py_ssize_t)*$2) : (Py_INCREF(Py_None), Py_None);
  if (!o_) SWIG_fail;
  $result = SWIG_AppendOutput($result, o_);
}
%apply (const char **OUT_BORROWED, size_t *OUT_LEN) { (const char **message, size_t *len) };

/* Flags and counts out (a sweep's page, what it removed); a count starts at 0, as functions that
 * add to it (xr_ayepi_sweep_delete's `+=`) expect. */
%include "typemaps.i"
%apply bool *OUTPUT { bool *done };
%typemap(in, numinputs=0) size_t *COUNT_OUT (size_t n_ = 0) {
  $1 = &n_;
}
%typemap(argout) size_t *COUNT_OUT {
  $result = SWIG_AppendOutput($result, PyLong_FromSize_t(*$1));
}
%apply size_t *COUNT_OUT { size_t *count, size_t *removed };

/* A lock out: (token, expires_at_ms). */
%typemap(in, numinputs=0) xr_chat_lock *lock (xr_chat_lock l_) {
  memset(&l_, 0, sizeof l_);
  $1 = &l_;
}
%typemap(argout) xr_chat_lock *lock {
  $result = SWIG_AppendOutput($result, Py_BuildValue("(s#L)", $1->token, (Py_ssize_t)$1->token_len,
                                                             (long long)$1->expires_at_ms));
}

/* A dequeued entry that is no queue entry was popped all the same: the error carries its bytes
 * as `raw`, so nothing is lost. */
%{
static void xr_py_raise_entry(int code, const xr_chat_queue_entry *e) {
  xr_py_raise(code);
  if (!e->raw) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  PyObject *raw = PyBytes_FromStringAndSize(e->raw, (Py_ssize_t)e->raw_len);
  if (raw && value) PyObject_SetAttrString(value, "raw", raw);
  Py_XDECREF(raw);
  PyErr_Restore(type, value, tb);
}
%}
%typemap(out) int xr_chat_dequeue, int xr_chat_dequeue_reliable {
  if ($1 < 0) {
    xr_py_raise_entry($1, arg3);
    SWIG_fail;
  }
  $result = PyLong_FromLong($1);
}
%typemap(out) int xr_chat_batch_entry {
  if ($1 < 0) {
    xr_py_raise_entry($1, arg4);
    SWIG_fail;
  }
  $result = PyLong_FromLong($1);
}

/* A queue entry out: (message bytes or None, enqueued_at_ms, expires_at_ms, raw bytes or None). */
%typemap(in, numinputs=0) xr_chat_queue_entry *e (xr_chat_queue_entry e_) {
  memset(&e_, 0, sizeof e_);
  $1 = &e_;
}
%typemap(argout) xr_chat_queue_entry *e {
  PyObject *m_ = $1->message ? PyBytes_FromStringAndSize($1->message, (Py_ssize_t)$1->message_len) : (Py_INCREF(Py_None), Py_None);
  PyObject *r_ = $1->raw ? PyBytes_FromStringAndSize($1->raw, (Py_ssize_t)$1->raw_len) : (Py_INCREF(Py_None), Py_None);
  $result = SWIG_AppendOutput($result, Py_BuildValue("(NLLN)", m_, (long long)$1->enqueued_at_ms,
                                                             (long long)$1->expires_at_ms, r_));
}
%typemap(freearg) xr_chat_queue_entry *e {
  xr_chat_queue_entry_clear($1);
}

/* List items out: a list of bytes. */
%typemap(in, numinputs=0) xr_reply **items (xr_reply *r_ = NULL) {
  $1 = &r_;
}
%typemap(argout) xr_reply **items {
  $result = SWIG_AppendOutput($result, *$1 ? xr_py_reply(*$1) : PyList_New(0));
}
%typemap(freearg) xr_reply **items {
  xr_reply_free(*$1);
}
%typemap(in, numinputs=0) const xr_reply **items (const xr_reply *r_ = NULL) {
  $1 = &r_;
}
%typemap(argout) const xr_reply **items {
  $result = SWIG_AppendOutput($result, *$1 ? xr_py_reply(*$1) : PyList_New(0));
}
/* Borrowed from the batch: SWIG would otherwise pick the freearg of `xr_reply **items` (it drops
 * qualifiers when it looks typemaps up) and free the batch's reply. */
%typemap(freearg) const xr_reply **items ""

/* A command's reply out, as Python values. */
%typemap(in, numinputs=0) xr_reply **out (xr_reply *r_ = NULL) {
  $1 = &r_;
}
%typemap(argout) xr_reply **out {
  PyObject *v_ = *$1 ? xr_py_reply(*$1) : (Py_INCREF(Py_None), Py_None);
  if (!v_) SWIG_fail;
  $result = SWIG_AppendOutput($result, v_);
}
%typemap(freearg) xr_reply **out {
  xr_reply_free(*$1);
}

/* A command's arguments from one Python sequence. */
%typemap(in) (int argc, const char *const *argv, const size_t *argvlen) (xr_py_argv a_ = {0, NULL, NULL, NULL}) {
  if (xr_py_argv_fill(&a_, $input) < 0) SWIG_fail;
  $1 = a_.argc;
  $2 = a_.argv;
  $3 = a_.lens;
}
%typemap(freearg) (int argc, const char *const *argv, const size_t *argvlen) {
  xr_py_argv_free(&a_$argnum);
}

/* ---- key families and migration windows (../window.i) ------------------------------------------ */
#define XR_BINDING_WINDOW
%{
#include "crossredis/family.h"
#include "crossredis/window.h"

/* Field values: the texts of a xr_py_argv as the core's spans. */
typedef struct xr_py_spans {
  xr_py_argv texts;
  xr_key_span *spans;
} xr_py_spans;

static int xr_py_spans_fill(xr_py_spans *s, PyObject *seq) {
  if (xr_py_texts_fill(&s->texts, seq, 0, "field value", "a key has 0 to 1000000 field values") < 0) return -1;
  s->spans = PyMem_Calloc((size_t)(s->texts.argc ? s->texts.argc : 1), sizeof *s->spans);
  if (!s->spans) {
    PyErr_NoMemory();
    return -1;
  }
  for (int i = 0; i < s->texts.argc; i++) s->spans[i] = (xr_key_span){s->texts.argv[i], s->texts.lens[i]};
  return 0;
}

static void xr_py_spans_free(xr_py_spans *s) {
  xr_py_argv_free(&s->texts);
  PyMem_Free(s->spans);
}
%}
/* A sequence of str (UTF-8), bytes, int or float (their text); the items live through the
 * sequence, which the caller holds during the call (the Python layer passes a tuple of its own). */
%typemap(in) (const xr_key_span *SPANS, size_t N) (xr_py_spans s_ = {{0, NULL, NULL, NULL}, NULL}) {
  if (xr_py_spans_fill(&s_, $input) < 0) SWIG_fail;
  $1 = s_.spans;
  $2 = (size_t)s_.texts.argc;
}
%typemap(freearg) (const xr_key_span *SPANS, size_t N) {
  xr_py_spans_free(&s_$argnum);
}
/* A family file's families: a list of handles, each the caller's (xr_family_free); the core's
 * list is freed here. */
%typemap(in, numinputs=0) (xr_family ***FAMILIES, size_t *N) (xr_family **l_ = NULL, size_t n_ = 0) {
  $1 = &l_;
  $2 = &n_;
}
%typemap(argout) (xr_family ***FAMILIES, size_t *N) {
  PyObject *list_ = PyList_New(0);
  for (size_t i_ = 0; list_ && i_ < *$2; i_++) {
    xr_family *f_ = NULL;
    PyObject *o_ = NULL;
    if (xr_family_copy(&f_, (*$1)[i_]) < 0) {
      xr_py_raise(XR_ENOMEM);
    } else if (!(o_ = SWIG_NewPointerObj(f_, $descriptor(xr_family *), 0)) || PyList_Append(list_, o_) < 0) {
      xr_family_free(f_);
    }
    Py_XDECREF(o_);
    if (PyErr_Occurred()) {
      for (Py_ssize_t j_ = 0; j_ < PyList_GET_SIZE(list_); j_++) {
        void *p_ = NULL;
        if (SWIG_IsOK(SWIG_ConvertPtr(PyList_GET_ITEM(list_, j_), &p_, $descriptor(xr_family *), 0))) xr_family_free(p_);
      }
      Py_CLEAR(list_);
    }
  }
  if (!list_) SWIG_fail;
  $result = SWIG_AppendOutput($result, list_);
}
%typemap(freearg) (xr_family ***FAMILIES, size_t *N) {
  xr_family_list_free(*$1, *$2);
}
XR_PY_OUT_HANDLE(xr_family)
XR_PY_OUT_HANDLE(xr_window)

/* ---- operations by code (op.h): arguments and results converted by kind, never per operation ---- */

/* An operation's arguments: a sequence of (name, value) pairs, the names for messages; a str is
 * TEXT (its UTF-8), bytes (or bytearray) BYTES, an int INT. The core checks each against its row. */
%typemap(in) (const xr_arg *args, size_t nargs) (xr_arg a_[XR_OP_ARGS_MAX], PyObject *fast_ = NULL) {
  fast_ = PySequence_Fast($input, "the arguments must be a sequence");
  if (!fast_) SWIG_fail;
  Py_ssize_t n_ = PySequence_Fast_GET_SIZE(fast_);
  if (n_ > XR_OP_ARGS_MAX) {
    PyErr_Format(PyExc_TypeError, "at most %d arguments, got %zd", XR_OP_ARGS_MAX, n_);
    SWIG_fail;
  }
  for (Py_ssize_t i_ = 0; i_ < n_; i_++) {
    PyObject *pair_ = PySequence_Fast_GET_ITEM(fast_, i_), *v_;
    const char *name_;
    if (!PyTuple_Check(pair_) || PyTuple_GET_SIZE(pair_) != 2 || !(name_ = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair_, 0)))) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "each argument must be a (name, value) pair");
      SWIG_fail;
    }
    v_ = PyTuple_GET_ITEM(pair_, 1);
    memset(&a_[i_], 0, sizeof a_[i_]);
    if (PyUnicode_Check(v_)) {
      Py_ssize_t len_ = 0;
      if (!(a_[i_].data = xr_py_utf8(v_, &len_, name_))) SWIG_fail;
      a_[i_].len = (size_t)len_;
    } else if (PyBytes_Check(v_) || PyByteArray_Check(v_)) {
      a_[i_].data = PyBytes_Check(v_) ? PyBytes_AS_STRING(v_) : PyByteArray_AS_STRING(v_);
      a_[i_].len = (size_t)Py_SIZE(v_);
    } else if (PyLong_Check(v_) && !PyBool_Check(v_)) {
      int overflow_ = 0;
      long long x_ = PyLong_AsLongLongAndOverflow(v_, &overflow_);
      if (overflow_) {
        xr_py_invalid("%s: %S is out of range for a 64-bit integer", name_, v_);
        SWIG_fail;
      }
      if (x_ == -1 && PyErr_Occurred()) SWIG_fail;
      a_[i_].num = (int64_t)x_;
    } else {
      PyErr_Format(PyExc_TypeError, "%s must be a str, bytes or int, not %.100s", name_, Py_TYPE(v_)->tp_name);
      SWIG_fail;
    }
  }
  $1 = a_;
  $2 = (size_t)n_;
}
%typemap(freearg) (const xr_arg *args, size_t nargs) {
  Py_XDECREF(fast_$argnum);  /* the items (and their UTF-8) lived through it */
}

%{
/* A result as Python values, by its kind: None, bool, int, bytes or None (VALUE), a list of bytes
 * (LIST), a tuple of its fields or None (LOCK, ENTRY: TEXT and BYTES fields as bytes). */
static PyObject *xr_py_result(const xr_result *r) {
  switch (r->kind) {
    case XR_RESULT_STATUS:
      Py_RETURN_NONE;
    case XR_RESULT_BOOL:
      return PyBool_FromLong(r->present);
    case XR_RESULT_INTEGER:
      return PyLong_FromLongLong(r->integer);
    case XR_RESULT_LIST:
      return r->list ? xr_py_reply(r->list) : PyList_New(0);
    default:
      break;
  }
  if (!r->present) Py_RETURN_NONE;
  if (r->kind == XR_RESULT_VALUE) return PyBytes_FromStringAndSize(r->fields[0].data, (Py_ssize_t)r->fields[0].len);
  const xr_result_shape *shape = xr_result_shape_of(r->kind);
  PyObject *t = PyTuple_New((Py_ssize_t)r->nfields);
  for (size_t i = 0; t && i < r->nfields; i++) {
    PyObject *f = shape->field_kinds[i] == XR_ARG_INT ? PyLong_FromLongLong(r->fields[i].num)
                  : r->fields[i].data ? PyBytes_FromStringAndSize(r->fields[i].data, (Py_ssize_t)r->fields[i].len)
                                      : (Py_INCREF(Py_None), Py_None);
    if (!f) {
      Py_CLEAR(t);
      break;
    }
    PyTuple_SET_ITEM(t, (Py_ssize_t)i, f);
  }
  return t;
}

/* A failure whose result still carries an entry's raw bytes (a popped entry that does not decode):
 * the exception gets them as `raw`, so nothing is lost. */
static void xr_py_raise_result(int code, const xr_result *r) {
  xr_py_raise(code);
  if (r->kind != XR_RESULT_ENTRY || r->nfields < 4 || !r->fields[3].data) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  PyObject *raw = PyBytes_FromStringAndSize(r->fields[3].data, (Py_ssize_t)r->fields[3].len);
  if (raw && value) PyObject_SetAttrString(value, "raw", raw);
  Py_XDECREF(raw);
  PyErr_Restore(type, value, tb);
}
%}
%typemap(in, numinputs=0) xr_result * (xr_result r_) {
  memset(&r_, 0, sizeof r_);
  $1 = &r_;
}
%typemap(argout) xr_result * {
  PyObject *v_ = xr_py_result($1);
  if (!v_) SWIG_fail;
  $result = SWIG_AppendOutput($result, v_);
}
%typemap(freearg) xr_result * {
  xr_result_clear($1);
}
/* xr_chat_call and xr_chat_batch_result: a failure may still carry an entry's raw bytes. */
%define XR_PY_RESULT_CALL(FN, ARG)
%typemap(out) int FN {
  if ($1 < 0) {
    xr_py_raise_result($1, ARG);
    SWIG_fail;
  }
  $result = PyLong_FromLong($1);
}
%enddef
XR_PY_RESULT_CALL(xr_chat_call, arg5)
XR_PY_RESULT_CALL(xr_chat_batch_result, arg3)
XR_PY_RESULT_CALL(xr_session_call, arg5)
XR_PY_RESULT_CALL(xr_session_batch_result, arg3)
XR_PY_RESULT_CALL(xr_ayepi_call, arg5)
XR_PY_RESULT_CALL(xr_ayepi_batch_result, arg3)

/* ---- event loops (loop.h, ../loop.i): what crossredis/_loop.py drives from asyncio ---------- */
#define XR_BINDING_LOOP
%apply int *OUTPUT { int *wait };
/* -1 is "no descriptor", not an error code */
%typemap(out) int xr_pollable_fd "$result = PyLong_FromLong($1);";
/* The loop's steps never wait: they keep the GIL rather than give it up and take it back on every
 * call (xr_loop_conn_open connects, and lets other threads run meanwhile). */
%nothreadallow xr_monotonic_ms;
%nothreadallow xr_pollable_fd;
%nothreadallow xr_pollable_events;
%nothreadallow xr_pollable_deadline;
%nothreadallow xr_pollable_process;
%nothreadallow xr_loop_conn_close;
%nothreadallow xr_loop_conn_pollable;
%nothreadallow xr_loop_conn_broken;
%nothreadallow xr_loop_conn_busy;
%nothreadallow xr_loop_conn_cancel;
%nothreadallow xr_chat_batch_start;
%nothreadallow xr_session_batch_start;
%nothreadallow xr_ayepi_batch_start;
%nothreadallow xr_xp_batch_start;
/* the broker's loop steps (its pollable is driven as above) */
%nothreadallow xr_ayepi_broker_pollable;
%nothreadallow xr_ayepi_broker_next;
%nothreadallow xr_ayepi_broker_listening;
%nothreadallow xr_ayepi_broker_reconnects;

%include "../crossredis.i"
