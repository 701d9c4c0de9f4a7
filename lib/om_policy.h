/* A provider's policy (/etc/omerta/provider.conf) and a requester's request, both
 * parsed strictly: the policy is the provider's word on what a stranger may have, and
 * the request is the stranger's word, checked against it before anything is built.
 *
 * The policy, "key = value" lines, '#' comments, and sections "[key ID]" whose
 * limits replace the global ones for the requester whose key ID is (its SHA256
 * fingerprint, as ssh-keygen -l shows it, or the name authorized_keys gives it with
 * omerta-provide --key NAME). A key that is unknown, repeated, out of range, or a
 * global key inside a section is an error naming its line. */
#ifndef OM_POLICY_H
#define OM_POLICY_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OM_POLICY_MAX 65536      /* bytes in a policy file */
#define OM_POLICY_KEYS 256       /* [key ID] sections */
#define OM_POLICY_ID 96          /* bytes of an ID, NUL included */
#define OM_POLICY_IMAGES 512     /* bytes of an images list, NUL included */
#define OM_POLICY_PATH 256       /* bytes of a path, NUL included */

struct om_limits {
	unsigned max_cpu, max_memory, default_memory, memory_overhead, max_disk;
	unsigned max_timeout, default_timeout, max_boot_timeout, max_pids, max_output_files;
	uint64_t max_input, max_output, max_image;
	bool allow_root;
	char images[OM_POLICY_IMAGES]; /* "a,b,c", "*" (any in the catalogue) or "" (none) */
	uint32_t set;                  /* which of them the section set (bit per key) */
};

struct om_policy {
	char account[33];
	unsigned slots, queue, uid_lo, uid_hi;
	char run_dir[OM_POLICY_PATH], cache_dir[OM_POLICY_PATH], disk_dir[OM_POLICY_PATH];
	char image_dir[OM_POLICY_PATH], audit_log[OM_POLICY_PATH], cgroup_parent[OM_POLICY_PATH];
	struct om_limits base;
	size_t nkeys;
	struct {
		char id[OM_POLICY_ID];
		struct om_limits l;
	} keys[OM_POLICY_KEYS];
};

/* Parses text[0..len) into p (defaults first). 0, or -1 with "line N: ..." in err. */
int om_policy_parse(const char *text, size_t len, struct om_policy *p, char *err, size_t errlen);
/* The limits for a requester: the section whose ID is fp or name (fp first), over
 * the global ones; the global ones when there is none. Either may be NULL or "". */
void om_policy_limits(const struct om_policy *p, const char *fp, const char *name, struct om_limits *out);
/* Whether images (a policy list) allows the catalogue image NAME. */
bool om_policy_image_ok(const char *images, const char *name);

/* A request: the options of "omerta-provide --bundle ...", the only command a key
 * runs. Values are names and numbers only, so the command is words split on spaces. */
struct om_request {
	char job_id[64], language[8], image[65];
	unsigned cpu, memory, timeout, boot_timeout, disk, output_files;
	uint64_t output_max;
	bool output, use_stdin, root, json, verbose;
	bool has_cpu, has_memory, has_timeout, has_boot_timeout, has_output_max, has_output_files;
};
#define OM_REQUEST_MAX 1024 /* bytes of a command line */
/* Parses the words of s (after "omerta-provide"): 0, or -1 with the reason in err. */
int om_request_parse(const char *s, struct om_request *r, char *err, size_t errlen);
/* Writes r back as words ("--bundle --cpu 1 ..."), NUL-terminated, for
 * omerta-execute and for the privileged half to parse again. -1 when it does not fit. */
int om_request_words(const struct om_request *r, char *out, size_t outlen);

/* A bundle's header line "omerta-bundle 1 C S [D [E [I [G]]]]" (no newline). */
struct om_bundle {
	uint64_t config, script, description, env, input, image;
};
int om_bundle_parse(const char *line, struct om_bundle *b, char *err, size_t errlen);

/* Grants r under l: fills the defaults (timeout, memory, output) into r. 0, or -1
 * with the limit that refuses it named in err ("max_memory 1024: --memory 4096"). */
int om_policy_grant(const struct om_limits *l, struct om_request *r, const struct om_bundle *b,
		    char *err, size_t errlen);

#endif
