/* The private Python module crossredis._native: typemaps for Python, then the shared interface.
 * Built with -builtin -threads: every call releases the GIL while C runs (network calls included);
 * typemaps that touch Python objects run with it held. */
%module(package="crossredis") native  /* the extension is _native: SWIG names it _<module> */

%{
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static int xr_py_argv_fill(xr_py_argv *a, PyObject *seq) {
  PyObject *fast = PySequence_Fast(seq, "command arguments must be a sequence");
  if (!fast) return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  if (n < 1 || n > 1000000) {
    Py_DECREF(fast);
    PyErr_SetString(PyExc_ValueError, "a command needs 1 to 1000000 arguments");
    return -1;
  }
  a->argc = (int)n;
  a->argv = PyMem_Calloc((size_t)n, sizeof *a->argv);
  a->lens = PyMem_Calloc((size_t)n, sizeof *a->lens);
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
      p = (char *)PyUnicode_AsUTF8AndSize(item, &len);
    } else if (PyBytes_Check(item)) {
      if (PyBytes_AsStringAndSize(item, &p, &len) < 0) p = NULL;
    } else {
      PyErr_Format(PyExc_TypeError, "command argument %zd is %.100s: expected str, bytes, int or float", i,
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

/* ...but the error table's `code` member is a value, not a result. */
%typemap(out) int code "$result = PyLong_FromLong($1);"

%typemap(in) (const char *BYTES, size_t LEN) (Py_ssize_t n_ = 0, char *p_ = NULL) {
  if (PyUnicode_Check($input)) {
    p_ = (char *)PyUnicode_AsUTF8AndSize($input, &n_);
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
XR_PY_OUT_HANDLE(xr_chat)
XR_PY_OUT_HANDLE(xr_chat_batch)
XR_PY_OUT_HANDLE(xr_chat_watchdog)
XR_PY_OUT_HANDLE(xr_script)

/* A lock out: (token, expires_at_ms). */
%typemap(in, numinputs=0) xr_chat_lock *lock (xr_chat_lock l_) {
  memset(&l_, 0, sizeof l_);
  $1 = &l_;
}
%typemap(argout) xr_chat_lock *lock {
  $result = SWIG_AppendOutput($result, Py_BuildValue("(s#L)", $1->token, (Py_ssize_t)$1->token_len,
                                                             (long long)$1->expires_at_ms));
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

%include "../crossredis.i"
