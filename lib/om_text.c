#include <stdio.h>
#include <string.h>
#include "om_text.h"

size_t om_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t om_utf8_tail(const unsigned char *s, size_t n)
{
	/* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		unsigned char c = s[n - k];
		if ((c & 0xc0) == 0x80)
			continue;
		size_t want = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 1;
		return want > k ? k : 0;
	}
	return 0;
}

bool om_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = om_utf8_len(s + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

size_t om_base64_len(size_t n)
{
	return 4 * ((n + 2) / 3);
}

void om_base64(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;

	for (; i + 3 <= n; i += 3, out += 4) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[0] = a[v >> 18], out[1] = a[v >> 12 & 63], out[2] = a[v >> 6 & 63], out[3] = a[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[0] = a[v >> 18], out[1] = a[v >> 12 & 63], out[2] = '=', out[3] = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[0] = a[v >> 18], out[1] = a[v >> 12 & 63], out[2] = a[v >> 6 & 63], out[3] = '=';
	}
}

static bool hidden(const unsigned char *s, size_t l)
{
	unsigned cp;

	if (l != 3)
		return false;
	cp = (unsigned)(s[0] & 0x0f) << 12 | (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff;
}

static size_t hex(unsigned char c, char *out)
{
	static const char h[] = "0123456789abcdef";

	out[0] = '\\', out[1] = 'x', out[2] = h[c >> 4], out[3] = h[c & 15];
	return 4;
}

size_t om_tty_escape(const unsigned char *s, size_t n, bool final, char *out, size_t *used)
{
	size_t i = 0, o = 0, keep = final ? 0 : om_utf8_tail(s, n);

	while (i < n - keep) {
		unsigned char c = s[i];
		if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
			out[o++] = (char)c;
			i++;
			continue;
		}
		size_t l = c >= 0x80 ? om_utf8_len(s + i, n - i) : 0;
		/* U+0080..U+009F are the C1 controls (CSI among them), in UTF-8 C2 80..C2 9F;
		 * the bidi and invisible format characters (U+200B-200F, U+2028-202E,
		 * U+2060-206F, U+FEFF) reorder or hide what a person reads. */
		if (l && !(l == 2 && c == 0xc2 && s[i + 1] < 0xa0) && !hidden(s + i, l)) {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
			continue;
		}
		o += hex(c, out + o);
		i++;
	}
	*used = i;
	return o;
}

void om_shown(const char *s, char *out, size_t outlen)
{
	size_t k = 0;

	for (; *s && k + 5 < outlen && k < 200; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == '\\')
			k += (size_t)snprintf(out + k, outlen - k, "\\x%02x", c);
		else
			out[k++] = (char)c;
	}
	out[k] = '\0';
}
