/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small, strict HTTP/1.1 request parser and response writer for the API socket.
 * Only what the Firecracker API needs: one request at a time per connection,
 * Content-Length bodies, keep-alive, Expect: 100-continue. Anything else is refused
 * with a status code rather than guessed at. Pure functions over a buffer: the caller
 * owns the I/O, which keeps the parser easy to fuzz.
 *
 * Limits (documented in api/README.md):
 *   request line + headers  HTTP_MAX_HEADER_BYTES (8 KiB), else 431
 *   request target          HTTP_MAX_TARGET (1 KiB), else 414
 *   header lines            HTTP_MAX_HEADERS (32), else 431
 *   body                    HTTP_MAX_BODY (64 KiB), else 413
 */
#ifndef API_HTTP_H
#define API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER_BYTES 8192
#define HTTP_MAX_TARGET 1024
#define HTTP_MAX_HEADERS 32
#define HTTP_MAX_BODY (64 * 1024)

enum http_method {
	HTTP_OTHER = 0,
	HTTP_GET,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_POST,
	HTTP_DELETE,
	HTTP_HEAD,
};

struct http_request {
	enum http_method method;
	char method_name[16];
	char path[HTTP_MAX_TARGET + 1]; /* target without the query string */
	int minor; /* HTTP/1.<minor>: 0 or 1 */
	bool keep_alive;
	bool expect_continue;
	size_t header_len; /* bytes of request line + headers, 0 until they are complete */
	size_t content_length;
	const char *body; /* into the caller's buffer; NUL-free not guaranteed */
	size_t body_len;
};

/*
 * Parse the request at the start of buf[0..len).
 *   > 0: a whole request of that many bytes; req filled, req->body points into buf.
 *   0:   incomplete. If req->header_len is set the headers are complete and valid
 *        (the caller may answer Expect: 100-continue).
 *   < 0: -status for a malformed or refused request (400, 411, 413, 414, 417, 431,
 *        501, 505); the connection should be answered and closed.
 */
long http_parse_request(const char *buf, size_t len, struct http_request *req);

/* A growable output buffer. */
struct http_buf {
	char *p;
	size_t len, cap;
};

/* 0 or -ENOMEM (also when the buffer would pass max bytes). */
int http_buf_append(struct http_buf *b, const void *data, size_t n, size_t max);
void http_buf_consume(struct http_buf *b, size_t n);
void http_buf_free(struct http_buf *b);

const char *http_reason(int status);

/*
 * Append a response. body may be NULL (no body; 204 gets no Content-Length).
 * close adds "Connection: close". 0 or -ENOMEM.
 */
int http_format_response(struct http_buf *out, int status, const char *body, size_t body_len,
			 bool close, size_t max);

#endif
