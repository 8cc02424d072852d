/* string.c - the four functions a compiler may call on its own, even freestanding (GCC's manual, "C Dialect
 * Options": a freestanding program must still supply memcpy, memmove, memset and memcmp).
 *
 * memset and memcpy are the string instructions themselves: written as C loops, an optimising compiler
 * recognises the loop as memset or memcpy and calls the very function it is compiling. */
#include "harness.h"

void *memset(void *to, int byte, size_t count)
{
	void *at = to;
	__asm__ volatile("rep stosb" : "+D"(at), "+c"(count) : "a"(byte) : "memory");
	return to;
}

void *memcpy(void *to, const void *from, size_t count)
{
	void *at = to;
	__asm__ volatile("rep movsb" : "+D"(at), "+S"(from), "+c"(count) : : "memory");
	return to;
}

void *memmove(void *to, const void *from, size_t count)
{
	uint8_t *at = to;
	const uint8_t *source = from;
	if (at <= source || at >= source + count)
		return memcpy(to, from, count);
	/* Backwards, from the last byte: the direction flag, set only here. */
	at += count - 1;
	source += count - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(at), "+S"(source), "+c"(count) : : "memory");
	return to;
}

int memcmp(const void *a, const void *b, size_t count)
{
	const uint8_t *left = a, *right = b;
	for (; count; count--, left++, right++)
		if (*left != *right)
			return *left - *right;
	return 0;
}
