// SPDX-License-Identifier: Apache-2.0
/* The HTTP request parser and response writer. */
#include <errno.h>

#include "api/http.h"
#include "tests/unit/test.h"

static long parse(const char *s, struct http_request *r)
{
	return http_parse_request(s, strlen(s), r);
}

TEST(simple_get)
{
	static const char s[] = "GET /machine-config HTTP/1.1\r\nHost: localhost\r\n\r\n";
	struct http_request r;

	CHECK_EQ(parse(s, &r), (long)strlen(s));
	CHECK_EQ(r.method, HTTP_GET);
	CHECK_STR(r.path, "/machine-config");
	CHECK(r.keep_alive);
	CHECK_EQ(r.body_len, 0);
}

TEST(put_with_body_and_query)
{
	static const char s[] = "PUT /drives/rootfs?x=1 HTTP/1.1\r\ncontent-length: 4\r\n"
				"Content-Type: application/json\r\n\r\n{}  GET";
	struct http_request r;

	CHECK_EQ(parse(s, &r), (long)strlen(s) - 3);
	CHECK_EQ(r.method, HTTP_PUT);
	CHECK_STR(r.path, "/drives/rootfs");
	CHECK_EQ(r.body_len, 4);
	CHECK(!memcmp(r.body, "{}  ", 4));
}

TEST(incremental)
{
	static const char s[] = "PATCH /vm HTTP/1.1\r\nContent-Length: 19\r\n\r\n{\"state\": \"Paused\"}";
	struct http_request r;

	/* Every strict prefix is incomplete, never an error. */
	for (size_t i = 0; i < strlen(s); i++) {
		long n = http_parse_request(s, i, &r);

		if (n != 0) {
			fprintf(stderr, "  prefix %zu gave %ld\n", i, n);
			CHECK(0);
		}
	}
	CHECK_EQ(parse(s, &r), (long)strlen(s));
	CHECK_EQ(r.method, HTTP_PATCH);
}

TEST(headers_complete_reported)
{
	static const char s[] =
		"PUT /boot-source HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n";
	struct http_request r;

	CHECK_EQ(parse(s, &r), 0);
	CHECK_EQ(r.header_len, strlen(s));
	CHECK(r.expect_continue);
}

TEST(connection_semantics)
{
	struct http_request r;

	CHECK(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	CHECK(r.keep_alive);
	CHECK(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
}

struct bad {
	const char *req;
	long status;
};

static const struct bad bads[] = {
	{ "GARBAGE\r\n\r\n", -400 },
	{ "\x01\x02\x03", -400 },
	{ "GET\r\n\r\n", -400 },
	{ "GET / HTTP/1.1\n\n", -400 }, /* bare LF */
	{ "GET  / HTTP/1.1\r\n\r\n", -400 },
	{ "GET / HTTP/2.0\r\n\r\n", -505 },
	{ "GET / HTTP/1.2\r\n\r\n", -505 },
	{ "GET / FTP/1.1\r\n\r\n", -400 },
	{ "GET / HTTP/1.1 \r\n\r\n", -400 },
	{ "GET x HTTP/1.1\r\n\r\n", -400 },
	{ "GET /\x7f HTTP/1.1\r\n\r\n", -400 },
	{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", -400 },
	{ "GET / HTTP/1.1\r\n: empty\r\n\r\n", -400 },
	{ "GET / HTTP/1.1\r\nName : v\r\n\r\n", -400 },
	{ "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", -400 },
	{ "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", -400 },
	{ "PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400 },
	{ "PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", -400 },
	{ "PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n", -400 },
	{ "PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -400 },
	{ "PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", -413 },
	{ "PUT / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", -413 },
	{ "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -411 },
	{ "PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", -501 },
	{ "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", -400 },
	{ "PUT / HTTP/1.1\r\nExpect: something\r\n\r\n", -417 },
};

TEST(malformed)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct http_request r;
		long n = parse(bads[i].req, &r);

		if (n != bads[i].status) {
			fprintf(stderr, "  case %zu: got %ld want %ld\n", i, n, bads[i].status);
			test_failed_now = 1;
		}
	}
}

TEST(nul_in_headers)
{
	static const char s[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
	struct http_request r;

	CHECK_EQ(http_parse_request(s, sizeof(s) - 1, &r), -400);
}

TEST(limits)
{
	static char big[HTTP_MAX_HEADER_BYTES + 64];
	struct http_request r;
	size_t n;

	/* Headers that never end within the limit. */
	strcpy(big, "GET / HTTP/1.1\r\n");
	n = strlen(big);
	while (n < sizeof(big) - 8) {
		memcpy(big + n, "X: yyyy\r\n", 9);
		n += 9;
	}
	CHECK_EQ(http_parse_request(big, n, &r), -431);
	/* Too many header lines, though short. */
	strcpy(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		strcat(big, "A: b\r\n");
	strcat(big, "\r\n");
	CHECK_EQ(parse(big, &r), -431);
	/* A long target. */
	strcpy(big, "GET /");
	memset(big + 5, 'a', HTTP_MAX_TARGET + 1);
	strcpy(big + 6 + HTTP_MAX_TARGET, " HTTP/1.1\r\n\r\n");
	CHECK_EQ(parse(big, &r), -414);
	/* The largest body allowed. */
	CHECK_EQ(parse("PUT / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n", &r), 0);
}

TEST(method_names)
{
	struct http_request r;

	CHECK(parse("DELETE / HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(r.method, HTTP_DELETE);
	CHECK(parse("BREW / HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(r.method, HTTP_OTHER);
	CHECK_STR(r.method_name, "BREW");
	CHECK_EQ(parse("VERYLONGMETHODNAMEXX / HTTP/1.1\r\n\r\n", &r), -400);
}

TEST(responses)
{
	struct http_buf b = { 0 };

	CHECK_EQ(http_format_response(&b, 204, NULL, 0, false, 4096), 0);
	CHECK_EQ(http_buf_append(&b, "", 1, 4096), 0);
	CHECK(strstr(b.p, "HTTP/1.1 204 No Content\r\n"));
	CHECK(!strstr(b.p, "Content-Length"));
	b.len = 0;
	CHECK_EQ(http_format_response(&b, 400, "{\"fault_message\":\"x\"}", 21, true, 4096), 0);
	CHECK_EQ(http_buf_append(&b, "", 1, 4096), 0);
	CHECK(strstr(b.p, "HTTP/1.1 400 Bad Request\r\n"));
	CHECK(strstr(b.p, "Content-Length: 21\r\n"));
	CHECK(strstr(b.p, "Connection: close\r\n"));
	CHECK(strstr(b.p, "\r\n\r\n{\"fault_message\":\"x\"}"));
	/* The size cap holds. */
	CHECK_EQ(http_format_response(&b, 200, "x", 1, false, 10), -ENOMEM);
	http_buf_consume(&b, 5);
	http_buf_free(&b);
}
