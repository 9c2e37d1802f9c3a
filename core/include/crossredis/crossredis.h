/* crossredis: the umbrella header. Includes every public header of the core (and tls.h, whose
 * functions live in the crossredis_tls library) and says which library and which wire format
 * this is.
 *
 * Two versions, kept apart (as tree-sitter keeps its language ABI apart from its release):
 * - XR_VERSION_*: the library's release (semantic versioning of the C API and the bindings).
 * - XR_WIRE_VERSION: the bytes crossredis writes into Redis (keys, tokens, JSON texts, queue
 *   entries, scripts' effects). It changes only when a writer's bytes change, which happens only
 *   with an upstream runtime's change (SPEC.md); programs on two releases with the same wire
 *   version read and write each other's data. */
#ifndef CROSSREDIS_H
#define CROSSREDIS_H

#include "export.h"

/* CMakeLists.txt reads the release from these lines: the one place it is written. */
#define XR_VERSION_MAJOR 0
#define XR_VERSION_MINOR 1
#define XR_VERSION_PATCH 0
#define XR_VERSION_STRING "0.1.0"
#define XR_WIRE_VERSION 1

#include "alloc.h"
#include "ayepi.h"
#include "chat.h"
#include "client.h"
#include "config.h"
#include "error.h"
#include "family.h"
#include "inventory.h"
#include "json.h"
#include "keys.h"
#include "key_pattern.h"
#include "lock_scan.h"
#include "migrate.h"
#include "scan.h"
#include "session.h"
#include "session_record.h"
#include "session_scan.h"
#include "subscriber.h"
#include "loop.h"
#include "timestamp.h"
#include "tls.h"
#include "window.h"
#include "token.h"
#include "xp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The release of the library this program runs with ("0.1.0"), which may be newer than the
 * header it was compiled with. Static storage. */
XR_API const char *xr_version(void);

/* The wire-format version of the library this program runs with (XR_WIRE_VERSION of its build). */
XR_API int xr_wire_version(void);

#ifdef __cplusplus
}
#endif
#endif
