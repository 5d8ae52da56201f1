// SPDX-License-Identifier: Apache-2.0
/* Console output, reporting and the small libc the test guest needs. */
#include "tests/guest/guest.h"

#define COM1 0x3f8

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *dp = d;

	while (n--)
		*dp++ = (uint8_t)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

const char *strstr(const char *h, const char *n)
{
	size_t ln = strlen(n);

	for (; *h; h++)
		if (!memcmp(h, n, ln))
			return h;
	return NULL;
}

void putc_serial(char c)
{
	/* Wait for THR empty (the VMM transmits at once, so this is one read). */
	for (int i = 0; i < 1000 && !(inb(COM1 + 5) & 0x20); i++)
		;
	outb(COM1, (uint8_t)c);
}

void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

void put_hex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char buf[19];
	int i = 18;

	buf[i--] = 0;
	do {
		buf[i--] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	buf[i--] = 'x';
	buf[i] = '0';
	puts_serial(&buf[i]);
}

void put_dec(uint64_t v)
{
	char buf[21];
	int i = 20;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_serial(&buf[i]);
}

static unsigned int passed, failed;

void check(bool ok, const char *what, const char *detail)
{
	if (ok) {
		passed++;
		puts_serial("guest: PASS ");
		puts_serial(what);
	} else {
		failed++;
		puts_serial("guest: FAIL ");
		puts_serial(what);
		if (detail) {
			puts_serial(": ");
			puts_serial(detail);
		}
	}
	puts_serial("\n");
}

void check_eq(uint64_t got, uint64_t want, const char *what)
{
	if (got == want) {
		check(true, what, NULL);
		return;
	}
	failed++;
	puts_serial("guest: FAIL ");
	puts_serial(what);
	puts_serial(": got ");
	put_hex(got);
	puts_serial(" want ");
	put_hex(want);
	puts_serial("\n");
}

void i8042_reset(void)
{
	outb(0x64, 0xfe);
	for (;;)
		__asm__ volatile("pause");
}

void finish(void)
{
	puts_serial("guest: RESULT ");
	put_dec(passed);
	puts_serial(" passed, ");
	put_dec(failed);
	puts_serial(" failed\n");
	i8042_reset();
}

const struct boot_params *g_boot_params;
const char *g_cmdline = "";

static const char *param_find(const char *key)
{
	size_t lk = strlen(key);

	for (const char *p = g_cmdline; *p;) {
		while (*p == ' ')
			p++;
		if (!memcmp(p, "guest.", 6) && !memcmp(p + 6, key, lk) && p[6 + lk] == '=')
			return p + 7 + lk;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

uint64_t param_u64(const char *key, uint64_t def)
{
	const char *v = param_find(key);
	uint64_t n = 0;

	if (!v || *v < '0' || *v > '9')
		return def;
	while (*v >= '0' && *v <= '9')
		n = n * 10 + (uint64_t)(*v++ - '0');
	return n;
}

bool param_str(const char *key, char *buf, size_t len)
{
	const char *v = param_find(key);
	size_t i = 0;

	if (!v || !len)
		return false;
	while (v[i] && v[i] != ' ' && i + 1 < len) {
		buf[i] = v[i];
		i++;
	}
	buf[i] = 0;
	return true;
}

/* Runs until the VMM stops it (SIGTERM, pause/resume tests). */
void test_spin(void)
{
	volatile uint64_t n = 0;

	puts_serial("guest: spinning\n");
	for (;;)
		n++;
}

/* Console input: echo one line back in upper case, polling the UART. */
void test_echo(void)
{
	char line[128];
	size_t n = 0;

	puts_serial("guest: type a line\n");
	while (n + 1 < sizeof(line)) {
		char c;

		while (!(inb(COM1 + 5) & 0x01))
			__asm__ volatile("pause");
		c = (char)inb(COM1);
		if (c == '\n' || c == '\r')
			break;
		line[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	line[n] = 0;
	puts_serial("guest: echo ");
	puts_serial(line);
	puts_serial("\n");
	check(n > 0, "console input received", NULL);
}
