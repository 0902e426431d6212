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

#endif
