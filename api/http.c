// SPDX-License-Identifier: Apache-2.0
/*
 * The request parser. It re-parses the headers from the start of the buffer each time
 * more bytes arrive; with an 8 KiB cap that is cheap and keeps no state between calls.
 */
#include "api/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field value bytes: visible ASCII, space, tab and obs-text; no other control bytes. */
static bool is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static const char *find_crlfcrlf(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++) {
		const char *p = memchr(buf + i, '\r', len - i - 3);

		if (!p)
			return NULL;
		i = (size_t)(p - buf);
		if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
			return p;
	}
	return NULL;
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

/* Connection: a comma-separated token list. */
static void parse_connection(const char *v, size_t n, struct http_request *req)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (token_eq(v + s, e - s, "close"))
			req->keep_alive = false;
		else if (token_eq(v + s, e - s, "keep-alive"))
			req->keep_alive = true;
	}
}

static const struct {
	const char *name;
	enum http_method m;
} methods[] = {
	{ "GET", HTTP_GET },   { "PUT", HTTP_PUT },	  { "PATCH", HTTP_PATCH },
	{ "POST", HTTP_POST }, { "DELETE", HTTP_DELETE }, { "HEAD", HTTP_HEAD },
};

static long parse_request_line(const char *p, size_t n, struct http_request *req)
{
	size_t i = 0, s;

	/* method */
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= sizeof(req->method_name) || i >= n || p[i] != ' ')
		return -400;
	memcpy(req->method_name, p, i);
	req->method_name[i] = '\0';
	req->method = HTTP_OTHER;
	for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (!strcmp(req->method_name, methods[k].name))
			req->method = methods[k].m;
	/* target: origin-form only */
	s = ++i;
	while (i < n && p[i] != ' ') {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f)
			return -400;
		i++;
	}
	if (i == s || i >= n || p[s] != '/')
		return -400;
	if (i - s > HTTP_MAX_TARGET)
		return -414;
	{
		size_t tlen = i - s;
		const char *q = memchr(p + s, '?', tlen);

		if (q)
			tlen = (size_t)(q - (p + s));
		memcpy(req->path, p + s, tlen);
		req->path[tlen] = '\0';
	}
	/* version */
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/", 5))
		return -400;
	if (p[i + 5] != '1' || p[i + 6] != '.')
		return p[i + 5] >= '0' && p[i + 5] <= '9' ? -505 : -400;
	if (p[i + 7] == '1')
		req->minor = 1;
	else if (p[i + 7] == '0')
		req->minor = 0;
	else
		return p[i + 7] >= '0' && p[i + 7] <= '9' ? -505 : -400;
	req->keep_alive = req->minor == 1;
	return 0;
}

long http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	size_t scan = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;
	const char *end = find_crlfcrlf(buf, scan);
	const char *p, *eol;
	bool have_cl = false, have_te = false, te_chunked = false;
	size_t cl = 0, hdr_len, nhdr = 0;
	long r;

	memset(req, 0, sizeof(*req));
	if (!end) {
		/* Refuse early what can never become valid, so garbage is dropped fast. */
		for (size_t i = 0; i < scan; i++)
			if (buf[i] == '\0' || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
				return -400;
		if (scan > 0 && !is_tchar((unsigned char)buf[0]))
			return -400;
		return len >= HTTP_MAX_HEADER_BYTES ? -431 : 0;
	}
	hdr_len = (size_t)(end - buf) + 4;
	eol = memchr(buf, '\r', hdr_len);
	if (!eol || eol[1] != '\n')
		return -400;
	if ((r = parse_request_line(buf, (size_t)(eol - buf), req)) < 0)
		return r;
	p = eol + 2;
	while (p < end + 2) {
		const char *colon, *v, *ve;

		eol = memchr(p, '\r', (size_t)(end + 2 - p));
		if (!eol || eol[1] != '\n')
			return -400;
		if (++nhdr > HTTP_MAX_HEADERS)
			return -431;
		colon = p;
		while (colon < eol && is_tchar((unsigned char)*colon))
			colon++;
		/* No name, whitespace before the colon, or obs-fold: all refused (RFC 9112). */
		if (colon == p || colon == eol || *colon != ':')
			return -400;
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (const char *c = v; c < ve; c++)
			if (!is_vchar((unsigned char)*c))
				return -400;
		if (token_eq(p, (size_t)(colon - p), "Content-Length")) {
			size_t n = 0;

			if (v == ve)
				return -400;
			for (const char *c = v; c < ve; c++) {
				if (*c < '0' || *c > '9')
					return -400;
				if (n > (SIZE_MAX - 9) / 10)
					return -413;
				n = n * 10 + (size_t)(*c - '0');
			}
			/* Differing duplicates are a smuggling vector. */
			if (have_cl && n != cl)
				return -400;
			have_cl = true;
			cl = n;
		} else if (token_eq(p, (size_t)(colon - p), "Transfer-Encoding")) {
			have_te = true;
			if (ve - v >= 7 && !strncasecmp(ve - 7, "chunked", 7))
				te_chunked = true;
		} else if (token_eq(p, (size_t)(colon - p), "Connection")) {
			parse_connection(v, (size_t)(ve - v), req);
		} else if (token_eq(p, (size_t)(colon - p), "Expect")) {
			if (!token_eq(v, (size_t)(ve - v), "100-continue"))
				return -417;
			req->expect_continue = req->minor == 1;
		}
		p = eol + 2;
	}
	if (have_te) {
		/* Both framings at once is ambiguous; chunked alone needs a length here. */
		if (have_cl)
			return -400;
		return te_chunked ? -411 : -501;
	}
	if (cl > HTTP_MAX_BODY)
		return -413;
	req->header_len = hdr_len;
	req->content_length = cl;
	if (len - hdr_len < cl)
		return 0;
	req->body = buf + hdr_len;
	req->body_len = cl;
	return (long)(hdr_len + cl);
}

int http_buf_append(struct http_buf *b, const void *data, size_t n, size_t max)
{
	if (n > max || b->len > max - n)
		return -ENOMEM;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

void http_buf_consume(struct http_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void http_buf_free(struct http_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int http_format_response(struct http_buf *out, int status, const char *body, size_t body_len,
			 bool close, size_t max)
{
	char hdr[256];
	int n;

	if (body)
		n = snprintf(hdr, sizeof(hdr),
			     "HTTP/1.1 %d %s\r\nServer: vmm\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n%s\r\n",
			     status, http_reason(status), body_len,
			     close ? "Connection: close\r\n" : "");
	else
		n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nServer: vmm\r\n%s%s\r\n", status,
			     http_reason(status), status == 204 ? "" : "Content-Length: 0\r\n",
			     close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -ENOMEM;
	if (http_buf_append(out, hdr, (size_t)n, max) < 0)
		return -ENOMEM;
	if (body && http_buf_append(out, body, body_len, max) < 0)
		return -ENOMEM;
	return 0;
}
