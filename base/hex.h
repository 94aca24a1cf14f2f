/*
 * hex: bytes to lower-case hex digits — the one encoder of digests and tokens shown as text
 * (token digests, audit hashes, checkpoint heads), usable by the daemon and jpkictl alike.
 */
#ifndef JPKI_HEX_H
#define JPKI_HEX_H

#include <stddef.h>

/* `len` bytes → 2 * len lower-case hex digits and a NUL: `out` holds 2 * len + 1 bytes. */
void hex_encode(const unsigned char *in, size_t len, char *out);

#endif
