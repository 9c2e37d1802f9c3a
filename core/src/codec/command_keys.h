/* Where a command's keys are: the slot a Cluster routes it by, and the client-side CROSSSLOT check.
 * A static table of the commands crossredis and its users send (libvalkey's shape, trimmed to the
 * key positions); a command not in it counts as keyless, goes to any node, and a MOVED sends it to
 * the right one, so the table only has to be right, not complete. No I/O. */
#ifndef CROSSREDIS_COMMAND_KEYS_H
#define CROSSREDIS_COMMAND_KEYS_H

#include <stddef.h>

/* The slot every key of argv shares, or -1 for a keyless (or unknown) command; *readonly (may be
 * NULL) says whether the command only reads, so a replica may serve it. XR_ECROSSSLOT when the
 * keys fall in different slots, the message naming two of them and their slots. argv[0] is the
 * command's name in any case; lens may be NULL (NUL-terminated arguments). */
int xr_command_slot(int argc, const char *const *argv, const size_t *lens, int *slot, int *readonly);

/* The slot n keys share (-1 when n is 0), else XR_ECROSSSLOT naming two of them; `what` starts the
 * message ("a script"). */
int xr_keys_slot(const char *what, int n, const char *const *keys, const size_t *lens, int *slot);

#endif
