/* Guest bytes on their way to a person or a program: UTF-8 checks, base64 for the
 * bytes that are not text, and escapes for a terminal. Everything here treats its
 * input as hostile. */
#ifndef OM_TEXT_H
#define OM_TEXT_H
#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one. Overlong
 * forms, surrogates and code points past U+10FFFF are invalid. */
size_t om_utf8_len(const unsigned char *s, size_t n);
/* How many bytes at the end of s[0..n) are the start of a UTF-8 sequence that may
 * still be completed by more bytes (0 to 3). */
size_t om_utf8_tail(const unsigned char *s, size_t n);
bool om_utf8_valid(const unsigned char *s, size_t n);

/* Standard base64 with padding; out holds 4 * ((n + 2) / 3) bytes, no NUL. */
size_t om_base64_len(size_t n);
void om_base64(const unsigned char *in, size_t n, char *out);

/* Makes s[0..n) safe to show on a terminal: printable ASCII, newline, tab and valid
 * UTF-8 of printable characters pass; every other byte (ESC, the other C0 controls,
 * DEL, C1 controls, bidi and invisible format characters, bytes that are not UTF-8)
 * becomes the four characters \xNN. A
 * UTF-8 sequence cut at the end is left for the next call unless final. out holds
 * 4 * n bytes. Returns the bytes written to out; *used says how much of s it took. */
/* A name for a one-line message: control bytes, DEL, bytes past ASCII and '\\' as \\xNN,
 * at most 200 bytes of it shown; always NUL-terminated in out (outlen >= 6). */
void om_shown(const char *s, char *out, size_t outlen);

size_t om_tty_escape(const unsigned char *s, size_t n, bool final, char *out, size_t *used);

#endif
