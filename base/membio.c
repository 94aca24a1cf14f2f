/*
 * membio: see membio.h. Reads the BIO's buffer in place (BIO_get_mem_data) and copies it once.
 */
#include "base/membio.h"

#include <stdlib.h>
#include <string.h>

char *membio_to_string(BIO *bio, struct jerr *err)
{
    char *data = NULL, *text;
    long len;

    if (bio == NULL || BIO_method_type(bio) != BIO_TYPE_MEM ||
        (len = BIO_get_mem_data(bio, &data)) < 0) {
        jerr_set(err, JERR_INTERNAL, NULL, "not a memory BIO");
        return NULL;
    }
    if ((text = malloc((size_t)len + 1)) == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (len > 0)
        memcpy(text, data, (size_t)len);
    text[len] = '\0';
    return text;
}
