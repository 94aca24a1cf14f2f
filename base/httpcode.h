/*
 * httpcode: the HTTP status vocabulary both programs share — which status a jerr code
 * answers with, and the reason phrase of a status. Pure maps, no HTTP library: jpkid's
 * handlers (http.h) reply with them, jpkictl (ctl/) names a refused call with them.
 */
#ifndef JPKI_HTTPCODE_H
#define JPKI_HTTPCODE_H

/* The HTTP status for a jerr code: invalid 400, auth 401, forbidden 403, not_found 404,
 * refused/conflict 409, too_large 413, unavailable 503, anything else 500. */
int http_status_for(int jerr_code);

/* Reason phrase of a status ("Not Found"); "Error" for one it does not know. */
const char *http_reason(int status);

#endif
