/*
 * guardpage.h: a copy of some bytes that ends right before a PROT_NONE page, so that a read
 * one byte past them faults in every build. AddressSanitizer does not see reads made inside
 * libcrypto (ASN1_get_object, d2i_*), which is not instrumented: a heap buffer alone would
 * let such an over-read pass. Used by fuzz_crl_header.c and test/unit/test_crl_read.c.
 */
#ifndef JPKI_GUARDPAGE_H
#define JPKI_GUARDPAGE_H

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guardpage {
    void *map;
    size_t map_len;
};

/* `len` bytes of `data` copied to end where a PROT_NONE page begins; NULL when mmap fails.
 * Release with guardpage_free. */
static inline unsigned char *guardpage_copy(struct guardpage *g, const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t readable = (len + page - 1) / page * page;
    if (readable == 0)
        readable = page;
    g->map_len = readable + page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        return NULL;
    }
    unsigned char *guard = (unsigned char *)g->map + readable;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        munmap(g->map, g->map_len);
        g->map = NULL;
        return NULL;
    }
    if (len > 0)
        memcpy(guard - len, data, len);
    return guard - len;
}

static inline void guardpage_free(struct guardpage *g)
{
    if (g->map != NULL)
        munmap(g->map, g->map_len);
    g->map = NULL;
}

#endif
