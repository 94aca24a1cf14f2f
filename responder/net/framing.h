/*
 * framing: refuses a request whose message framing is ambiguous (request smuggling), from the
 * header list libevent 2.1 has parsed — the first point it lets us look. RFC 9112 §6.3 says a
 * server that cannot tell where a request ends must answer 400 and close the connection; the
 * server does that (server.c) when this says no, so the bytes behind such a request are never
 * read as another one.
 *
 * libevent takes the first Content-Length, keeps header names with odd characters ("Transfer-
 * Encoding " with a space), accepts "+5" as a length, and reads no body for HEAD and TRACE, so
 * that a body sent with them is parsed as the next request. Each is refused here.
 */
#ifndef JPKI_FRAMING_H
#define JPKI_FRAMING_H

#include <event2/http.h>

struct evkeyvalq;

/* Returns NULL when the framing of a request with this method, HTTP version and header list is
 * unambiguous, else a short reason for the 400 ("two Content-Length headers"). Pure. */
const char *framing_problem(enum evhttp_cmd_type method, int major, int minor,
                            const struct evkeyvalq *headers);

#endif
