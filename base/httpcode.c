/*
 * httpcode: which HTTP status a jerr code answers with, and a status's reason phrase
 * (see httpcode.h).
 */
#include "base/httpcode.h"

#include "base/jerr.h"

int http_status_for(int jerr_code)
{
    switch (jerr_code) {
    case JERR_INVALID:
        return 400;
    case JERR_AUTH:
        return 401;
    case JERR_FORBIDDEN:
        return 403;
    case JERR_NOT_FOUND:
        return 404;
    case JERR_REFUSED:
    case JERR_CONFLICT:
        return 409;
    case JERR_TOO_LARGE:
        return 413;
    case JERR_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}
