// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel TLS: key installation from TLS 1.3 traffic secrets (ktls.h). */
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define SECRET_MAX 48 /* SHA-384 */

struct secrets {
	uint8_t client[SECRET_MAX], server[SECRET_MAX];
	size_t client_len, server_len;
};

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

/* Whatever frees an SSL frees its secrets, cleansed. */
static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct secrets));
		free(ptr);
	}
}

static void ex_init(void)
{
	ex_index = SSL_get_ex_new_index(0, "trestle ktls secrets", NULL, NULL, ex_free);
}

static struct secrets *secrets_of(const SSL *ssl, bool create)
{
	struct secrets *s;

	pthread_once(&ex_once, ex_init);
	if (ex_index < 0)
		return NULL;
	s = SSL_get_ex_data(ssl, ex_index);
	if (!s && create) {
		s = calloc(1, sizeof(*s));
		if (s && !SSL_set_ex_data((SSL *)ssl, ex_index, s)) {
			free(s);
			s = NULL;
		}
	}
	return s;
}

static int unhex(const char *h, uint8_t *out, size_t max, size_t *len)
{
	size_t n = 0;

	while (h[0] && h[1] && h[0] != ' ' && h[0] != '\n') {
		unsigned int b;

		if (n == max || sscanf(h, "%2x", &b) != 1)
			return -1;
		out[n++] = (uint8_t)b;
		h += 2;
	}
	*len = n;
	return n ? 0 : -1;
}

void ktls_keylog_cb(const SSL *ssl, const char *line)
{
	static const char cli[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char srv[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct secrets *s;
	const char *p;
	bool client;

	if (!strncmp(line, cli, sizeof(cli) - 1))
		client = true;
	else if (!strncmp(line, srv, sizeof(srv) - 1))
		client = false;
	else
		return;
	p = strchr(line + sizeof(cli) - 1, ' '); /* past the client random */
	s = secrets_of(ssl, true);
	if (!p || !s)
		return;
	if (client)
		unhex(p + 1, s->client, sizeof(s->client), &s->client_len);
	else
		unhex(p + 1, s->server, sizeof(s->server), &s->server_len);
}

void ktls_forget(SSL *ssl)
{
	struct secrets *s = secrets_of(ssl, false);

	if (!s)
		return;
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	SSL_set_ex_data(ssl, ex_index, NULL);
}

static bool probe_result;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* The ULP is only accepted on a connected TCP socket: make a loopback
 * pair in a private socket namespace-free way (listen on 127.0.0.1:0). */
static void probe(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l = -1, c = -1, s = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		goto out;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
		goto out;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto out;
	probe_result = !setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof("tls"));
out:
	if (s >= 0)
		close(s);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
}

bool ktls_available(void)
{
	pthread_once(&probe_once, probe);
	return probe_result;
}

/* HKDF-Expand-Label(secret, label, "", len) of TLS 1.3 (RFC 8446 7.1). */
static int expand_label(const char *md, const uint8_t *secret, size_t slen,
			const char *label, uint8_t *out, size_t len)
{
	uint8_t info[64];
	size_t ll = strlen(label), n = 0;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rc = -1;

	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0; /* empty context */
	if (!kctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[3] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, params) == 1)
		rc = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

union crypto_info {
	struct tls_crypto_info base;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

static void put_seq(unsigned char *rec_seq, uint64_t seq)
{
	for (int i = 7; i >= 0; i--) {
		rec_seq[i] = (unsigned char)seq;
		seq >>= 8;
	}
}

/* The kernel's view of each TLS 1.3 AEAD: AES-GCM takes the first four
 * bytes of the 12-byte IV as its salt, ChaCha20-Poly1305 the whole IV. */
struct aead {
	int nid;
	const char *md;  /* HKDF hash of the cipher suite */
	__u16 cipher_type;
	size_t key_len, salt_len, size;
	size_t key_off, salt_off, iv_off, seq_off; /* in union crypto_info */
};

#define GCM(f) offsetof(union crypto_info, f.key), offsetof(union crypto_info, f.salt), \
	offsetof(union crypto_info, f.iv), offsetof(union crypto_info, f.rec_seq)

static const struct aead aeads[] = {
	{ NID_aes_128_gcm, "SHA256", TLS_CIPHER_AES_GCM_128, 16, 4,
	  sizeof(struct tls12_crypto_info_aes_gcm_128), GCM(gcm128) },
	{ NID_aes_256_gcm, "SHA384", TLS_CIPHER_AES_GCM_256, 32, 4,
	  sizeof(struct tls12_crypto_info_aes_gcm_256), GCM(gcm256) },
	{ NID_chacha20_poly1305, "SHA256", TLS_CIPHER_CHACHA20_POLY1305, 32, 0,
	  sizeof(struct tls12_crypto_info_chacha20_poly1305),
	  offsetof(union crypto_info, chacha.key), 0, offsetof(union crypto_info, chacha.iv),
	  offsetof(union crypto_info, chacha.rec_seq) },
};

/* Fill ci for one direction; returns its size or 0. */
static size_t crypto_info_for(int cipher_nid, const uint8_t *secret, size_t slen,
			      uint64_t seq, union crypto_info *ci)
{
	const struct aead *a = NULL;
	uint8_t key[32], iv[12];
	unsigned char *base = (unsigned char *)ci;
	size_t sz = 0;

	memset(ci, 0, sizeof(*ci));
	for (size_t i = 0; i < sizeof(aeads) / sizeof(aeads[0]); i++)
		if (aeads[i].nid == cipher_nid)
			a = &aeads[i];
	if (!a || expand_label(a->md, secret, slen, "key", key, a->key_len) ||
	    expand_label(a->md, secret, slen, "iv", iv, sizeof(iv)))
		goto out;
	ci->base.version = TLS_1_3_VERSION;
	ci->base.cipher_type = a->cipher_type;
	memcpy(base + a->key_off, key, a->key_len);
	memcpy(base + a->salt_off, iv, a->salt_len);
	memcpy(base + a->iv_off, iv + a->salt_len, sizeof(iv) - a->salt_len);
	put_seq(base + a->seq_off, seq);
	sz = a->size;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return sz;
}

int ktls_install(SSL *ssl, int fd, uint64_t tx_seq, uint64_t rx_seq,
		 char *why, size_t len)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	struct secrets *s = secrets_of(ssl, false);
	bool server = SSL_is_server(ssl);
	union crypto_info tx, rx;
	size_t txsz, rxsz;
	int nid, err;

	if (SSL_version(ssl) != TLS1_3_VERSION || !c) {
		snprintf(why, len, "not TLS 1.3");
		return -EPROTO;
	}
	if (!s || !s->client_len || !s->server_len) {
		snprintf(why, len, "traffic secrets not captured");
		return -ENOKEY;
	}
	if (SSL_has_pending(ssl)) {
		snprintf(why, len, "OpenSSL holds unread data");
		return -EBUSY;
	}
	nid = SSL_CIPHER_get_cipher_nid(c);
	txsz = crypto_info_for(nid, server ? s->server : s->client,
			       server ? s->server_len : s->client_len, tx_seq, &tx);
	rxsz = crypto_info_for(nid, server ? s->client : s->server,
			       server ? s->client_len : s->server_len, rx_seq, &rx);
	if (!txsz || !rxsz) {
		snprintf(why, len, "cipher %s has no kernel TLS", SSL_CIPHER_get_name(c));
		OPENSSL_cleanse(&tx, sizeof(tx));
		OPENSSL_cleanse(&rx, sizeof(rx));
		return -EOPNOTSUPP;
	}
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		err = -errno;
		snprintf(why, len, "TCP_ULP tls: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_TLS, TLS_TX, &tx, (socklen_t)txsz)) {
		err = -errno;
		snprintf(why, len, "TLS_TX: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_TLS, TLS_RX, &rx, (socklen_t)rxsz)) {
		err = -errno;
		snprintf(why, len, "TLS_RX: %s", strerror(errno));
		goto out;
	}
	err = 0;
out:
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	return err;
}

int ktls_send_close_notify(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))] = { 0 };
	unsigned char alert[2] = { 1 /* warning */, 0 /* close_notify */ };
	struct iovec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = 21; /* alert */
	return sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

ssize_t ktls_recv_record(int fd, void *buf, size_t len, unsigned char *type)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(fd, &msg, 0);

	if (n < 0)
		return -errno;
	*type = 23; /* no record type said: application data */
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	return n;
}
