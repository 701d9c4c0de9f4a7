/* omerta-keygen: WireGuard keys, byte-compatible with wg genkey / wg pubkey / wg genpsk. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_json.h"
#include "om_key.h"
#include "om_read.h"

static char outbuf[BUFSIZ];

enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3 };

static const char usage_text[] =
	"usage: omerta-keygen\n"
	"       omerta-keygen --public\n"
	"       omerta-keygen --pair [--json]\n"
	"       omerta-keygen --psk\n"
	"       omerta-keygen --help | --version\n";

static const char help_text[] =
	"\n"
	"With no option, print a new private key (base64, clamped as wg genkey does).\n"
	"  --public     read a private key on stdin, print its public key\n"
	"  --pair       print a new private key and its public key\n"
	"  --json       with --pair: one JSON object instead of two tab-separated columns\n"
	"  --psk        print a new preshared key\n"
	"  -h, --help   this text\n"
	"  --version    print the version\n"
	"Exit status: 0 ok, 1 malformed key on stdin, 2 usage, 3 system error.\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

/* A private key written to a file that others can read is a leak waiting to happen;
 * say so, as wg genkey does. */
static void warn_if_exposed(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
		warnx("warning: writing a private key to a file that group or others can read");
}

static int finish(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warn("write");
		return EX_SYS;
	}
	return EX_OK;
}

/* --public: the key on stdin, then only whitespace (what wg pubkey accepts), into
 * priv. 0, or the exit status. The input is never echoed: it may be somebody's
 * private key. */
static int read_private(uint8_t priv[OM_KEY_LEN])
{
	char *in = NULL;
	size_t len = 0, n = 0;
	int r = om_read_fd(STDIN_FILENO, 4096, &in, &len);

	if (r == -2) {
		warnx("standard input is too large for a key");
		return EX_INPUT;
	}
	if (r < 0) {
		warn("read standard input");
		return EX_SYS;
	}
	while (n < len && !strchr(" \t\r\n", in[n]))
		n++;
	for (size_t i = n; i < len; i++) {
		if (!strchr(" \t\r\n", in[i])) {
			om_read_free(in, len);
			warnx("standard input is not a valid key: trailing data after the key");
			return EX_INPUT;
		}
	}
	if (n == 0) {
		om_read_free(in, len);
		warnx("standard input holds no key");
		return EX_INPUT;
	}
	r = om_key_from_b64(priv, in, n);
	om_read_free(in, len);
	if (r < 0) {
		warnx("standard input is not a valid key: expected 44 characters of base64");
		return EX_INPUT;
	}
	return 0;
}

enum mode { GEN, PUB, PAIR, PSK };

static enum mode parse_opts(int argc, char **argv, int *json)
{
	static const struct option opts[] = {
		{ "public", no_argument, NULL, 'p' }, { "pair", no_argument, NULL, 'P' },
		{ "psk", no_argument, NULL, 's' },    { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },   { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum mode mode = GEN;
	int modes = 0, c;

	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 'p': mode = PUB; modes++; break;
		case 'P': mode = PAIR; modes++; break;
		case 's': mode = PSK; modes++; break;
		case 'j': *json = 1; break;
		case 'h': usage(EX_OK); break;
		case 'V': puts("omerta-keygen " OMERTA_VERSION); exit(EX_OK);
		default: usage(EX_USAGE_);
		}
	}
	if (optind != argc) {
		warnx("unexpected argument '%s' (keys are never taken on the command line)", argv[optind]);
		usage(EX_USAGE_);
	}
	if (modes > 1) {
		warnx("--public, --pair and --psk exclude each other");
		usage(EX_USAGE_);
	}
	if (*json && mode != PAIR) {
		warnx("--json goes with --pair");
		usage(EX_USAGE_);
	}
	return mode;
}

/* A new private key (clamped) or PSK, with its public key for --pair. */
static int generate(enum mode mode, int json, uint8_t priv[OM_KEY_LEN], char *b64)
{
	uint8_t pub[OM_KEY_LEN];
	char b64pub[OM_KEY_B64_LEN + 1];

	if (om_key_random(priv) < 0) {
		warnx("cannot initialise libsodium");
		return EX_SYS;
	}
	if (mode != PSK)
		om_key_clamp(priv);
	warn_if_exposed();
	om_key_to_b64(b64, priv);
	if (mode != PAIR) {
		puts(b64);
		return finish();
	}
	if (om_key_public(pub, priv) < 0) {
		warnx("cannot initialise libsodium");
		return EX_SYS;
	}
	om_key_to_b64(b64pub, pub);
	if (json) {
		struct om_json j;
		om_json_init(&j, stdout);
		om_json_obj_open(&j, NULL);
		om_json_str(&j, "private_key", b64);
		om_json_str(&j, "public_key", b64pub);
		om_json_obj_close(&j);
		om_json_end(&j);
	} else
		printf("%s\t%s\n", b64, b64pub);
	return finish();
}

int main(int argc, char **argv)
{
	int json = 0, ret;
	uint8_t priv[OM_KEY_LEN], pub[OM_KEY_LEN];
	char b64[OM_KEY_B64_LEN + 1], b64pub[OM_KEY_B64_LEN + 1];
	enum mode mode = parse_opts(argc, argv, &json);

	/* stdout's buffer will hold the key: make it one we can wipe. */
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (mode != PUB)
		ret = generate(mode, json, priv, b64);
	else if (!(ret = read_private(priv))) {
		if (om_key_public(pub, priv) < 0) {
			warnx("cannot initialise libsodium");
			ret = EX_SYS;
		} else {
			om_key_to_b64(b64pub, pub);
			puts(b64pub);
			ret = finish();
		}
	}
	om_wipe(priv, sizeof(priv));
	om_wipe(b64, sizeof(b64));
	fflush(stdout);
	om_wipe(outbuf, sizeof(outbuf));
	return ret;
}
