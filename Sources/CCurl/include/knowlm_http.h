#ifndef KNOWLM_HTTP_H
#define KNOWLM_HTTP_H
#include <stddef.h>

/// One HTTP GET through libcurl, without following redirects (the caller checks each hop).
typedef struct {
    long status;            ///< HTTP status; 0 when no response came
    char *body;             ///< malloc'd, `body_length` bytes (not NUL-terminated text); NULL if none
    size_t body_length;
    int truncated;          ///< 1 when the body was cut at `max_bytes`
    char *location;         ///< malloc'd redirect target (absolute), or NULL
    char *content_type;     ///< malloc'd, or NULL
    char *primary_ip;       ///< malloc'd address actually connected to, or NULL
    char error[256];        ///< curl's message when the transfer failed
    int curl_code;          ///< CURLcode; 0 on success
} kl_http_response;

/// `resolve`: a CURLOPT_RESOLVE entry ("host:port:address") pinning the host to an address
/// the caller has checked, or NULL. Only http and https are allowed. Returns the CURLcode.
int kl_http_get(const char *url, const char *resolve, long timeout_ms, size_t max_bytes,
                const char *user_agent, kl_http_response *out);

void kl_http_response_free(kl_http_response *r);

/// Receives each piece of a streamed response body as it arrives (with the HTTP status);
/// return nonzero to abort the transfer.
typedef int (*kl_http_chunk_fn)(void *context, long status, const char *data, size_t length);

/// One HTTP POST of `body`, with `headers` ("Name: value", NULL-terminated), the response
/// body streamed to `on_chunk`. Fills `status`, `content_type`, `error` and `curl_code` of
/// `out` (not `body`). `timeout_ms` bounds the whole transfer, `connect_timeout_ms` the
/// connection. Only http and https. Returns the CURLcode.
int kl_http_post_stream(const char *url, const char *const *headers, const char *body, size_t body_length,
                        long connect_timeout_ms, long timeout_ms, kl_http_chunk_fn on_chunk, void *context,
                        kl_http_response *out);

#endif
