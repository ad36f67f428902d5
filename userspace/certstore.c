// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's certificates: DIR/ca.crt and DIR/NS/SA.{crt,key}, checked,
 * turned into TLS contexts, swapped in whole on every reload, and watched
 * with inotify (DIR and each namespace folder, those created later too).
 */
#include "certstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"

#define BUNDLE_FILE "ca.crt"
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
		      IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
#define SETTLE_MS 100      /* quiet time before a reload */
#define SETTLE_MAX_ROUNDS 20 /* at most 2 s of waiting for quiet */

struct cs_ident {
	struct certstore_entry e;  /* state as loaded */
	long not_before;
	char fingerprint[96];
	char spiffe_id[SPIFFE_ID_MAX];
	SSL_CTX *server, *client;  /* with state OK, or NOT_YET_VALID pending */
};

struct cs_set {
	X509_STORE *bundle;        /* NULL: no usable bundle */
	SSL_CTX *base_server;
	struct cs_ident *ids;
	size_t n;
};

struct certstore {
	pthread_mutex_t lock;        /* set and trust_domain */
	pthread_mutex_t reload_lock; /* one reload at a time */
	char *dir;
	char trust_domain[128];
	struct tls_opts opts;
	struct cs_set *set;
	int ifd;
};

static void set_free(struct cs_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		SSL_CTX_free(s->ids[i].server);
		SSL_CTX_free(s->ids[i].client);
	}
	free(s->ids);
	SSL_CTX_free(s->base_server);
	X509_STORE_free(s->bundle);
	free(s);
}

static void fmt_time(long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%ld", t);
}

/* ------------------------------------------------------------------ */
/* checking files */

X509_STORE *certstore_load_bundle(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *rest = NULL;
	X509_STORE *store = NULL;
	X509 *first = NULL;
	char name[256];

	if (svid_load_chain(path, &first, &rest, err, errlen))
		return NULL;
	store = X509_STORE_new();
	if (!store) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (int i = -1; i < sk_X509_num(rest); i++) {
		X509 *x = i < 0 ? first : sk_X509_value(rest, i);

		if (!(X509_get_extension_flags(x) & EXFLAG_CA)) {
			X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
			snprintf(err, errlen,
				 "%s: certificate %d (%s) is not a CA certificate (CA:TRUE); the trust bundle holds CA certificates only",
				 path, i + 2, name);
			X509_STORE_free(store);
			store = NULL;
			goto out;
		}
		if (!X509_STORE_add_cert(store, x)) {
			unsigned long e = ERR_peek_last_error();

			/* the same CA twice is harmless */
			if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
				snprintf(err, errlen, "%s: cannot add certificate %d to the trust store",
					 path, i + 2);
				X509_STORE_free(store);
				store = NULL;
				goto out;
			}
		}
	}
out:
	ERR_clear_error();
	X509_free(first);
	sk_X509_pop_free(rest, X509_free);
	return store;
}

enum tr_tls_reason certstore_check_svid(X509_STORE *bundle, X509 *leaf,
					STACK_OF(X509) *chain,
					const char *trust_domain, time_t now,
					struct spiffe_id *id, char *detail,
					size_t detail_len)
{
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	enum tr_tls_reason r;
	char t[32];
	int err, depth, ok;

	if (detail_len)
		detail[0] = '\0';
	if (!xs || !X509_STORE_CTX_init(xs, bundle, leaf, chain)) {
		X509_STORE_CTX_free(xs);
		ERR_clear_error();
		snprintf(detail, detail_len, "out of memory");
		return TR_TLS_BAD_CERT;
	}
	X509_STORE_CTX_set_time(xs, 0, now);
	ok = X509_verify_cert(xs);
	err = X509_STORE_CTX_get_error(xs);
	depth = X509_STORE_CTX_get_error_depth(xs);
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	if (ok <= 0) {
		X509 *x = depth > 0 && chain && depth - 1 < sk_X509_num(chain) ?
				  sk_X509_value(chain, depth - 1) : leaf;

		r = tls_verify_error_reason(err);
		if (r == TR_TLS_EXPIRED) {
			struct tm tm = {};

			ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
			fmt_time((long)timegm(&tm), t, sizeof(t));
			snprintf(detail, detail_len, "%s expired at %s",
				 depth > 0 ? "a certificate of its chain" : "it", t);
		} else if (r == TR_TLS_NOT_YET_VALID) {
			struct tm tm = {};

			ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm);
			fmt_time((long)timegm(&tm), t, sizeof(t));
			snprintf(detail, detail_len, "%s not valid before %s",
				 depth > 0 ? "a certificate of its chain is" : "it is", t);
		} else if (r == TR_TLS_UNKNOWN_CA) {
			snprintf(detail, detail_len,
				 "it does not chain to a CA of the trust bundle: %s",
				 X509_verify_cert_error_string(err));
		} else {
			snprintf(detail, detail_len, "%s", X509_verify_cert_error_string(err));
		}
		return r;
	}
	r = svid_identity_detail(leaf, id, detail, detail_len);
	if (r != TR_TLS_OK)
		return r;
	if (trust_domain && strcmp(id->trust_domain, trust_domain)) {
		snprintf(detail, detail_len, "its trust domain is %s, the mesh's is %s",
			 id->trust_domain, trust_domain);
		return TR_TLS_WRONG_TRUST_DOMAIN;
	}
	return TR_TLS_OK;
}

/* ------------------------------------------------------------------ */
/* loading */

struct load_ctx {
	const char *dir;
	const char *trust_domain;
	const struct tls_opts *opts;
	X509_STORE *bundle;
	time_t now;
};

static void load_ident(const struct load_ctx *lc, struct cs_ident *it, const char *keyp)
{
	char err[1024], detail[512];
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	struct spiffe_id id = {};
	enum tr_tls_reason r;
	X509 *leaf = NULL;
	struct stat st;
	struct tm tm;

	it->e.state = TR_TLS_BAD_CERT;
	if (svid_load_chain(it->e.file, &leaf, &chain, err, sizeof(err))) {
		log_error("certificates: %s", err);
		goto out;
	}
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm))
		it->e.not_after = (long)timegm(&tm);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm))
		it->not_before = (long)timegm(&tm);
	svid_fingerprint(leaf, it->fingerprint, sizeof(it->fingerprint));

	if (svid_load_key(keyp, &key, err, sizeof(err))) {
		log_error("certificates: %s (the key of %s)", err, it->e.file);
		goto out;
	}
	if (!stat(keyp, &st) && (st.st_mode & 077))
		log_warn("certificates: %s is readable by group or others (mode %04o; chmod 600 %s)",
			 keyp, (unsigned int)(st.st_mode & 07777), keyp);
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		log_error("certificates: %s does not match the certificate %s (write both again from the same issue)",
			  keyp, it->e.file);
		goto out;
	}
	if (!lc->bundle) {
		it->e.state = TR_TLS_UNKNOWN_CA;
		goto out;
	}
	r = certstore_check_svid(lc->bundle, leaf, chain, lc->trust_domain, lc->now,
				 &id, detail, sizeof(detail));
	if (r == TR_TLS_NOT_YET_VALID &&
	    certstore_check_svid(lc->bundle, leaf, chain, lc->trust_domain,
				 (time_t)it->not_before + 1, &id, NULL, 0) == TR_TLS_OK) {
		/* usable from not_before on: contexts are built, and
		 * certstore_ctx() hands them out from then on */
		log_warn("certificates: %s: %s (clock skew?); used from then on",
			 it->e.file, detail);
	} else if (r != TR_TLS_OK) {
		log_error("certificates: %s refused: %s: %s", it->e.file,
			  tr_tls_reason_name(r), detail);
		it->e.state = r;
		goto out;
	}
	if (strcmp(id.ns, it->e.ns) || strcmp(id.sa, it->e.sa)) {
		spiffe_id_format(&id, it->spiffe_id, sizeof(it->spiffe_id));
		log_error("certificates: %s holds %s, which belongs in %s/%s/%s.crt; refused",
			  it->e.file, it->spiffe_id, lc->dir, id.ns, id.sa);
		it->e.state = TR_TLS_WRONG_IDENTITY;
		goto out;
	}
	spiffe_id_format(&id, it->spiffe_id, sizeof(it->spiffe_id));
	it->server = tls_ctx_new(TLS_ROLE_SERVER, leaf, key, chain, lc->bundle,
				 lc->trust_domain, lc->opts, err, sizeof(err));
	if (it->server)
		it->client = tls_ctx_new(TLS_ROLE_CLIENT, leaf, key, chain, lc->bundle,
					 lc->trust_domain, lc->opts, err, sizeof(err));
	if (!it->server || !it->client) {
		log_error("certificates: %s refused: %s", it->e.file, err);
		SSL_CTX_free(it->server);
		it->server = NULL;
		goto out;
	}
	it->e.state = r;
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
}

static int ident_cmp(const void *a, const void *b)
{
	const struct cs_ident *x = a, *y = b;
	int c = strcmp(x->e.ns, y->e.ns);

	return c ? c : strcmp(x->e.sa, y->e.sa);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

static bool has_suffix(const char *s, const char *suf, size_t *stem)
{
	size_t n = strlen(s), m = strlen(suf);

	if (n <= m || strcmp(s + n - m, suf))
		return false;
	*stem = n - m;
	return true;
}

/* One namespace folder: an identity per NAME.crt. */
static int scan_ns(const struct load_ctx *lc, const char *ns, struct cs_ident **ids,
		   size_t *n, size_t *cap)
{
	char path[PATH_MAX], keyp[PATH_MAX + 8], other[PATH_MAX + 8];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", lc->dir, ns);
	d = opendir(path);
	if (!d) {
		log_error("certificates: cannot read %s: %s", path, strerror(errno));
		return 0;
	}
	while ((de = readdir(d))) {
		char sa[256];
		size_t stem;
		struct cs_ident *it;

		if (de->d_name[0] == '.')
			continue;
		if (has_suffix(de->d_name, ".key", &stem)) {
			snprintf(other, sizeof(other), "%s/%.*s.crt", path, (int)stem, de->d_name);
			if (!is_file(other))
				log_warn("certificates: %s/%s has no certificate %s; ignored",
					 path, de->d_name, other);
			continue;
		}
		if (!has_suffix(de->d_name, ".crt", &stem))
			continue;
		snprintf(sa, sizeof(sa), "%.*s", (int)stem, de->d_name);
		snprintf(other, sizeof(other), "%s/%s", path, de->d_name);
		if (!is_file(other))
			continue;
		if (!spiffe_segment_valid(sa) || strlen(sa) >= sizeof(it->e.sa)) {
			log_warn("certificates: %s: '%s' is not a service account name; ignored",
				 other, sa);
			continue;
		}
		if (strlen(other) >= sizeof(it->e.file)) {
			log_warn("certificates: %s: path too long; ignored", other);
			continue;
		}
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct cs_ident *p = realloc(*ids, nc * sizeof(*p));

			if (!p) {
				closedir(d);
				return -ENOMEM;
			}
			*ids = p;
			*cap = nc;
		}
		it = &(*ids)[(*n)++];
		memset(it, 0, sizeof(*it));
		snprintf(it->e.ns, sizeof(it->e.ns), "%s", ns);
		snprintf(it->e.sa, sizeof(it->e.sa), "%s", sa);
		memcpy(it->e.file, other, strlen(other) + 1);
		snprintf(keyp, sizeof(keyp), "%s/%s.key", path, sa);
		if (!is_file(keyp)) {
			log_error("certificates: %s has no key %s; refused", other, keyp);
			it->e.state = TR_TLS_BAD_CERT;
			continue;
		}
		load_ident(lc, it, keyp);
	}
	closedir(d);
	return 0;
}

/* The bundle's trust domains, for a hint when the mesh's is not among them. */
static void check_bundle_domains(const char *path, X509_STORE *bundle, const char *td)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(bundle);
	char seen[512] = "", d[128];
	bool any = false, match = false;

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (!x || svid_ca_trust_domain(x, d, sizeof(d)))
			continue;
		any = true;
		if (!strcmp(d, td))
			match = true;
		else if (strlen(seen) + strlen(d) + 3 < sizeof(seen))
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s",
				 *seen ? ", " : "", d);
	}
	if (any && !match)
		log_warn("certificates: %s has no CA for the trust domain %s (its CAs are for %s)",
			 path, td, seen);
}

static struct cs_set *build_set(const char *dir, const char *td,
				const struct tls_opts *opts, int *usable)
{
	struct load_ctx lc = { .dir = dir, .trust_domain = td, .opts = opts,
			       .now = time(NULL) };
	char bundle_path[PATH_MAX], path[PATH_MAX], err[1024];
	struct cs_set *s = calloc(1, sizeof(*s));
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	*usable = 0;
	if (!s)
		return NULL;
	snprintf(bundle_path, sizeof(bundle_path), "%s/%s", dir, BUNDLE_FILE);
	if (!is_file(bundle_path)) {
		log_error("certificates: %s: no trust bundle (trestle ca init writes one); every identity is refused until there is one",
			  bundle_path);
	} else {
		s->bundle = certstore_load_bundle(bundle_path, err, sizeof(err));
		if (!s->bundle)
			log_error("certificates: %s; every identity is refused until it is fixed",
				  err);
		else
			check_bundle_domains(bundle_path, s->bundle, td);
	}
	lc.bundle = s->bundle;
	if (s->bundle) {
		s->base_server = tls_ctx_new(TLS_ROLE_SERVER, NULL, NULL, NULL, s->bundle, td,
					     opts, err, sizeof(err));
		if (!s->base_server)
			log_error("certificates: cannot build the listener's context: %s", err);
	}

	d = opendir(dir);
	if (!d) {
		log_error("certificates: cannot read %s: %s", dir, strerror(errno));
		goto done;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!is_dir(path)) {
			if (!strcmp(de->d_name, "ca.key"))
				log_warn("certificates: %s: the CA's private key does not belong on a node (keep it where certificates are issued)",
					 path);
			continue;
		}
		if (!spiffe_segment_valid(de->d_name) || strlen(de->d_name) >= 64) {
			log_warn("certificates: %s: '%s' is not a namespace name; ignored", path,
				 de->d_name);
			continue;
		}
		if (scan_ns(&lc, de->d_name, &s->ids, &s->n, &cap)) {
			log_error("certificates: out of memory reading %s", dir);
			break;
		}
	}
	closedir(d);
done:
	qsort(s->ids, s->n, sizeof(*s->ids), ident_cmp);
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i].server)
			++*usable;
	return s;
}

static const struct cs_ident *set_find(const struct cs_set *s, const char *ns, const char *sa)
{
	struct cs_ident key = {};

	if (!s || !s->n)
		return NULL;
	snprintf(key.e.ns, sizeof(key.e.ns), "%s", ns);
	snprintf(key.e.sa, sizeof(key.e.sa), "%s", sa);
	return bsearch(&key, s->ids, s->n, sizeof(*s->ids), ident_cmp);
}

/* The state of an identity now: validity moves on after the load. */
static enum tr_tls_reason ident_state(const struct cs_ident *it, time_t now)
{
	if (!it->server)
		return it->e.state == TR_TLS_OK ? TR_TLS_BAD_CERT : it->e.state;
	if (now > (time_t)it->e.not_after)
		return TR_TLS_EXPIRED;
	if (now < (time_t)it->not_before)
		return TR_TLS_NOT_YET_VALID;
	return TR_TLS_OK;
}

static void log_changes(const struct cs_set *old, const struct cs_set *cur, const char *dir)
{
	time_t now = time(NULL);
	char t[32];
	size_t ok = 0;

	for (size_t i = 0; i < cur->n; i++) {
		const struct cs_ident *it = &cur->ids[i];
		const struct cs_ident *was = set_find(old, it->e.ns, it->e.sa);
		enum tr_tls_reason st = ident_state(it, now);

		if (st == TR_TLS_OK)
			ok++;
		if (!it->server)
			continue; /* its problem is logged */
		fmt_time(it->e.not_after, t, sizeof(t));
		if (!was)
			log_info("certificates: %s/%s loaded: %s, valid until %s", it->e.ns,
				 it->e.sa, it->spiffe_id, t);
		else if (strcmp(was->fingerprint, it->fingerprint))
			log_info("certificates: %s/%s renewed, valid until %s", it->e.ns,
				 it->e.sa, t);
		else if (!was->server)
			log_info("certificates: %s/%s usable again, valid until %s", it->e.ns,
				 it->e.sa, t);
	}
	for (size_t i = 0; old && i < old->n; i++)
		if (!set_find(cur, old->ids[i].e.ns, old->ids[i].e.sa))
			log_info("certificates: %s/%s removed", old->ids[i].e.ns,
				 old->ids[i].e.sa);
	log_info("certificates: %zu of %zu identities usable (%s)", ok, cur->n, dir);
}

/* Watch DIR and every namespace folder in it; adding one twice is harmless. */
static void watch_tree(struct certstore *cs)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (cs->ifd < 0)
		return;
	if (inotify_add_watch(cs->ifd, cs->dir, WATCH_EVENTS | IN_ONLYDIR) < 0)
		log_warn("certificates: cannot watch %s: %s; changes are seen on reload only",
			 cs->dir, strerror(errno));
	d = opendir(cs->dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cs->dir, de->d_name);
		if (is_dir(path) && inotify_add_watch(cs->ifd, path, WATCH_EVENTS | IN_ONLYDIR) < 0)
			log_warn("certificates: cannot watch %s: %s", path, strerror(errno));
	}
	closedir(d);
}

int certstore_reload(struct certstore *cs)
{
	struct cs_set *s, *old;
	char td[128];
	int usable;

	pthread_mutex_lock(&cs->reload_lock);
	watch_tree(cs);
	pthread_mutex_lock(&cs->lock);
	snprintf(td, sizeof(td), "%s", cs->trust_domain);
	pthread_mutex_unlock(&cs->lock);

	s = build_set(cs->dir, td, &cs->opts, &usable);
	if (!s) {
		log_error("certificates: out of memory; keeping the previous set");
		pthread_mutex_unlock(&cs->reload_lock);
		return -1;
	}
	pthread_mutex_lock(&cs->lock);
	old = cs->set;
	cs->set = s;
	pthread_mutex_unlock(&cs->lock);
	log_changes(old, s, cs->dir);
	/* contexts handed out before stay alive through their references */
	set_free(old);
	pthread_mutex_unlock(&cs->reload_lock);
	return s->bundle ? usable : -1;
}

struct certstore *certstore_open(const char *dir, const char *trust_domain,
				 const struct tls_opts *opts, char *err, size_t errlen)
{
	struct certstore *cs;
	char msg[256];
	DIR *d;

	if (spiffe_trust_domain_check(trust_domain, msg, sizeof(msg))) {
		snprintf(err, errlen, "trust domain '%s': %s", trust_domain ? trust_domain : "",
			 msg);
		return NULL;
	}
	d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot read the certificate directory %s: %s%s", dir,
			 strerror(errno),
			 errno == ENOENT ? " (create it, with ca.crt and NAMESPACE/SA.crt, .key)" : "");
		return NULL;
	}
	closedir(d);
	cs = calloc(1, sizeof(*cs));
	if (!cs || !(cs->dir = strdup(dir))) {
		free(cs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&cs->lock, NULL);
	pthread_mutex_init(&cs->reload_lock, NULL);
	snprintf(cs->trust_domain, sizeof(cs->trust_domain), "%s", trust_domain);
	if (opts)
		cs->opts = *opts;
	cs->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cs->ifd < 0)
		log_warn("certificates: cannot watch %s: %s; changes are seen on reload only",
			 dir, strerror(errno));
	certstore_reload(cs);
	return cs;
}

void certstore_close(struct certstore *cs)
{
	if (!cs)
		return;
	if (cs->ifd >= 0)
		close(cs->ifd);
	set_free(cs->set);
	pthread_mutex_destroy(&cs->lock);
	pthread_mutex_destroy(&cs->reload_lock);
	free(cs->dir);
	free(cs);
}

int certstore_set_trust_domain(struct certstore *cs, const char *trust_domain)
{
	char msg[256];

	if (spiffe_trust_domain_check(trust_domain, msg, sizeof(msg))) {
		log_error("certificates: trust domain '%s': %s; keeping %s",
			  trust_domain ? trust_domain : "", msg, cs->trust_domain);
		return -1;
	}
	pthread_mutex_lock(&cs->lock);
	snprintf(cs->trust_domain, sizeof(cs->trust_domain), "%s", trust_domain);
	pthread_mutex_unlock(&cs->lock);
	return certstore_reload(cs) < 0 ? -1 : 0;
}

int certstore_watch_fd(const struct certstore *cs)
{
	return cs->ifd;
}

/* Read all pending events; true when there were any. */
static bool drain(int fd)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		any = true;
	return any;
}

bool certstore_on_watch(struct certstore *cs)
{
	struct pollfd pfd = { .fd = cs->ifd, .events = POLLIN };

	if (cs->ifd < 0 || !drain(cs->ifd))
		return false;
	/* renewals write several files: wait for a quiet moment */
	for (int i = 0; i < SETTLE_MAX_ROUNDS; i++) {
		int r = poll(&pfd, 1, SETTLE_MS);

		if (r <= 0)
			break;
		drain(cs->ifd);
	}
	certstore_reload(cs);
	return true;
}

SSL_CTX *certstore_ctx(struct certstore *cs, const char *ns, const char *sa,
		       enum tls_role role, enum tr_tls_reason *why)
{
	const struct cs_ident *it;
	enum tr_tls_reason st;
	SSL_CTX *ctx = NULL;

	pthread_mutex_lock(&cs->lock);
	it = set_find(cs->set, ns, sa);
	st = it ? ident_state(it, time(NULL)) : TR_TLS_NO_LOCAL_CERT;
	if (st == TR_TLS_OK) {
		ctx = role == TLS_ROLE_SERVER ? it->server : it->client;
		if (!SSL_CTX_up_ref(ctx)) {
			ctx = NULL;
			st = TR_TLS_NO_LOCAL_CERT;
		}
	}
	pthread_mutex_unlock(&cs->lock);
	if (why)
		*why = st;
	return ctx;
}

SSL_CTX *certstore_base_server_ctx(struct certstore *cs)
{
	SSL_CTX *ctx = NULL;

	pthread_mutex_lock(&cs->lock);
	if (cs->set && cs->set->base_server && SSL_CTX_up_ref(cs->set->base_server))
		ctx = cs->set->base_server;
	pthread_mutex_unlock(&cs->lock);
	return ctx;
}

size_t certstore_list(struct certstore *cs, struct certstore_entry *out, size_t max)
{
	time_t now = time(NULL);
	size_t n = 0;

	pthread_mutex_lock(&cs->lock);
	for (size_t i = 0; cs->set && i < cs->set->n && n < max; i++) {
		out[n] = cs->set->ids[i].e;
		out[n].state = ident_state(&cs->set->ids[i], now);
		n++;
	}
	pthread_mutex_unlock(&cs->lock);
	return n;
}
