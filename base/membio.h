/*
 * membio: the text an OpenSSL memory BIO collected (a PEM, a printed name), handed out as a
 * plain C string — so the copy-out-and-terminate step is written once.
 */
#ifndef JPKI_MEMBIO_H
#define JPKI_MEMBIO_H

#include <openssl/bio.h>

#include "base/jerr.h"

/* Returns the bytes written so far to the memory BIO `bio` as a new NUL-terminated string
 * (empty if nothing was written) that the caller frees with free(); NULL with `err` filled if
 * `bio` is not a memory BIO or memory runs out. The BIO is left as it was. */
char *membio_to_string(BIO *bio, struct jerr *err);

#endif
