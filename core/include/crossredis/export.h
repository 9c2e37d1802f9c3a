/* Symbol visibility: the library is built with -fvisibility=hidden and only names marked XR_API
 * are exported. */
#ifndef CROSSREDIS_EXPORT_H
#define CROSSREDIS_EXPORT_H

#if defined(XR_STATIC)
#define XR_API
#elif defined(__GNUC__)
#define XR_API __attribute__((visibility("default")))
#else
#define XR_API
#endif

#endif
