/*
 * testpem: the one PEM file writer of the test code (testpem.h).
 */
#include "testpem.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <openssl/pem.h>

int testpem_write(const char *path, X509 *cert, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, key != NULL ? 0600 : 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f != NULL && (cert == NULL || PEM_write_X509(f, cert) == 1) &&
             (key == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
    if (f != NULL)
        ok = fclose(f) == 0 && ok;
    else if (fd >= 0)
        close(fd);
    return ok ? 0 : -1;
}
