#include "knowlm_http.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

typedef struct {
    char *data;
    size_t length, capacity, max;
    int truncated;
} buffer;

static size_t on_data(char *ptr, size_t size, size_t count, void *user) {
    buffer *b = (buffer *)user;
    size_t n = size * count;
    size_t take = n;
    if (b->length + take > b->max) { take = b->max - b->length; b->truncated = 1; }
    if (take > 0) {
        if (b->length + take > b->capacity) {
            size_t cap = b->capacity ? b->capacity * 2 : 16384;
            while (cap < b->length + take) cap *= 2;
            char *grown = realloc(b->data, cap);
            if (!grown) return 0;
            b->data = grown; b->capacity = cap;
        }
        memcpy(b->data + b->length, ptr, take);
        b->length += take;
    }
    // Returning less than n aborts the transfer: stop reading once the limit is reached.
    return b->truncated ? 0 : n;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int kl_http_get(const char *url, const char *resolve, long timeout_ms, size_t max_bytes,
                const char *user_agent, kl_http_response *out) {
    memset(out, 0, sizeof *out);
    pthread_once(&once, global_init);
    CURL *curl = curl_easy_init();
    if (!curl) { strcpy(out->error, "libcurl could not start"); out->curl_code = CURLE_FAILED_INIT; return out->curl_code; }
    buffer b = {0};
    b.max = max_bytes;
    struct curl_slist *pins = NULL;
    if (resolve) pins = curl_slist_append(NULL, resolve);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, out->error);
    if (user_agent) curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent);
    if (pins) curl_easy_setopt(curl, CURLOPT_RESOLVE, pins);
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_WRITE_ERROR && b.truncated) code = CURLE_OK;  // our own size limit
    out->curl_code = (int)code;
    if (code != CURLE_OK && out->error[0] == 0) {
        strncpy(out->error, curl_easy_strerror(code), sizeof out->error - 1);
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    char *s = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &s) == CURLE_OK) out->location = dup_or_null(s);
    s = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK) out->content_type = dup_or_null(s);
    s = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &s) == CURLE_OK) out->primary_ip = dup_or_null(s);
    out->body = b.data;
    out->body_length = b.length;
    out->truncated = b.truncated;
    curl_slist_free_all(pins);
    curl_easy_cleanup(curl);
    return out->curl_code;
}

void kl_http_response_free(kl_http_response *r) {
    free(r->body); free(r->location); free(r->content_type); free(r->primary_ip);
    r->body = r->location = r->content_type = r->primary_ip = NULL;
}

typedef struct {
    CURL *curl;
    kl_http_chunk_fn on_chunk;
    void *context;
} stream_target;

static size_t on_stream(char *ptr, size_t size, size_t count, void *user) {
    stream_target *t = (stream_target *)user;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    size_t n = size * count;
    return t->on_chunk(t->context, status, ptr, n) ? 0 : n;
}

int kl_http_post_stream(const char *url, const char *const *headers, const char *body, size_t body_length,
                        long connect_timeout_ms, long timeout_ms, kl_http_chunk_fn on_chunk, void *context,
                        kl_http_response *out) {
    memset(out, 0, sizeof *out);
    pthread_once(&once, global_init);
    CURL *curl = curl_easy_init();
    if (!curl) { strcpy(out->error, "libcurl could not start"); out->curl_code = CURLE_FAILED_INIT; return out->curl_code; }
    struct curl_slist *list = NULL;
    for (int i = 0; headers && headers[i]; i++) list = curl_slist_append(list, headers[i]);
    stream_target target = {curl, on_chunk, context};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &target);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, out->error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "knowlm");
    if (list) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    CURLcode code = curl_easy_perform(curl);
    out->curl_code = (int)code;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    out->content_type = dup_or_null(type);
    if (code != CURLE_OK && !out->error[0]) strncpy(out->error, curl_easy_strerror(code), sizeof out->error - 1);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return out->curl_code;
}
