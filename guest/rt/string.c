/* The freestanding string functions the compiler may also call on its own
 * (memset/memcpy for struct copies). rep movs/stos: one instruction, which
 * matters where ring 0 is emulated. */
#include "priv.h"

void *memset(void *d, int c, size_t n)
{
	void *p = d;

	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;

	__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	if ((uintptr_t)d - (uintptr_t)s >= n)  /* no harmful overlap */
		return memcpy(d, s, n);
	void *pd = (char *)d + n - 1;
	const void *ps = (const char *)s + n - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(pd), "+S"(ps), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b || !*a)
			return (uint8_t)*a - (uint8_t)*b;
	}
	return 0;
}

uint64_t rt_strtou64(const char *s, const char **end, int base)
{
	uint64_t v = 0;

	if (base == 0) {
		base = 10;
		if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			base = 16;
			s += 2;
		}
	}
	for (;; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (d >= (unsigned)base)
			break;
		v = v * base + d;
	}
	if (end)
		*end = s;
	return v;
}

/* In-place heapsort of 64-bit samples (benchmark latencies): O(n log n)
 * with no allocation, whatever the input order. */
static void sift_down_u64(uint64_t *a, size_t root, size_t n)
{
	while (2 * root + 1 < n) {
		size_t child = 2 * root + 1;
		uint64_t t;

		if (child + 1 < n && a[child] < a[child + 1])
			child++;
		if (a[root] >= a[child])
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

void sort_u64(uint64_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down_u64(a, i, n);
	for (size_t end = n; end-- > 1;) {
		uint64_t t = a[0];

		a[0] = a[end];
		a[end] = t;
		sift_down_u64(a, 0, end);
	}
}
