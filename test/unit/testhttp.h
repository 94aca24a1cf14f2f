/*
 * testhttp: a raw HTTP/1.1 client for the suites that start a server on a loopback port
 * (test_server, test_public): exact bytes out, exact bytes back. Its code is in testutil.c,
 * which every suite links.
 */
#ifndef JPKI_TESTHTTP_H
#define JPKI_TESTHTTP_H

#include <stddef.h>

/* Everything one connection received. */
struct testhttp_reply {
    int status; /* of the status line, 0 when there is none */
    char *raw;  /* everything received, NUL-terminated */
    size_t len;
    const char *body; /* into raw: after the first blank line */
    size_t body_len;
};

void testhttp_reply_free(struct testhttp_reply *r);

/* A connection to 127.0.0.1:port with a 5 s receive timeout; -1 with errno when refused. */
int testhttp_connect(int port);

/* Sends all of `data`; stops quietly when the server closes early (limits: what it answered is
 * what counts). */
void testhttp_send_all(int fd, const char *data, size_t len);

/* Reads until EOF (or the 5 s timeout) and parses the status line. */
void testhttp_read(int fd, struct testhttp_reply *r);

/* The value of header `name` in the reply (copied into buf), or NULL. */
const char *testhttp_header(const struct testhttp_reply *r, const char *name, char *buf,
                            size_t size);

#endif
