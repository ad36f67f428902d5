// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The agent's mTLS tunnels: listeners, handshakes, verdicts (tunnel.h). */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <trestle/abi.h>
#include <trestle/policy.h>
#include <trestle/tunnel.h>

#include "ktls.h"
#include "log.h"
#include "relay.h"
#include "tunnel.h"

#define HANDSHAKE_TIMEOUT_S 10
#define CONNECT_TIMEOUT_S 5
#define THREAD_STACK (256 * 1024)

/* The verdict record the inbound side sends after the handshake. */
#define VERDICT_MAGIC 0x54 /* 'T' */
#define VERDICT_VERSION 1
enum verdict_code { V_OK = 0, V_DENIED = 1, V_REFUSED = 2, V_UNKNOWN = 3, V_SOURCE = 4 };

struct tunnel;

struct tunnel_svc {
	struct tunnel_config cfg;
	int lfd[2];   /* outbound, inbound listeners */
	int stop_fd;  /* eventfd: wakes the acceptor */
	_Atomic int stop;
	pthread_t acceptor;
	pthread_mutex_t lock; /* dir, list, stats */
	pthread_cond_t idle;
	struct tun_dir *dir;
	struct tunnel *head;
	size_t n_threads;
	/* Tunnel threads are joinable: one that ends leaves its id here and
	 * the acceptor (or tunnel_stop) joins it, so that no thread is still
	 * tearing down (OpenSSL's per-thread state, its stack) when the agent
	 * exits. */
	pthread_t *ended;
	size_t n_ended, cap_ended;
	uint64_t next_id;
	struct tunnel_stats st;
	bool use_ktls;
};

struct tunnel {
	struct tunnel_svc *svc;
	struct tunnel *next, *prev;
	uint64_t id;
	enum tun_way way;
	enum tun_path path;
	int afd;   /* accepted socket */
	int ofd;   /* the other one: TLS to the peer (outbound) or the workload (inbound) */
	SSL *ssl;
	struct tun_dir *dir;
	struct sockaddr_storage peer;  /* who connected to us */
	struct tr_ip src, dst;         /* workload addresses */
	uint16_t dport;
	char peer_node[64];
	char local_id[SPIFFE_ID_MAX], remote_id[SPIFFE_ID_MAX];
	char version[16], cipher[64];
	time_t started;
	bool listed;
	struct relay_bytes bytes;
};

const char *tun_refusal_name(enum tun_refusal r)
{
	static const char *const names[] = {
#define TUN_REFUSAL_NAME(n, s) s,
		TUN_REFUSALS(TUN_REFUSAL_NAME)
#undef TUN_REFUSAL_NAME
	};
	return (unsigned int)r < TUN_REF_MAX ? names[r] : "?";
}

/* ---- small helpers ------------------------------------------------------ */

static void ip_from_sa(const struct sockaddr_storage *ss, struct tr_ip *ip, uint16_t *port)
{
	memset(ip, 0, sizeof(*ip));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		ip->family = AF_INET;
		memcpy(ip->bytes, &a->sin_addr, 4);
		*port = ntohs(a->sin_port);
		return;
	}
	{
		const struct sockaddr_in6 *a = (const void *)ss;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (!memcmp(&a->sin6_addr, mapped, 12)) {
			ip->family = AF_INET;
			memcpy(ip->bytes, (const uint8_t *)&a->sin6_addr + 12, 4);
		} else {
			ip->family = AF_INET6;
			memcpy(ip->bytes, &a->sin6_addr, 16);
		}
		*port = ntohs(a->sin6_port);
	}
}

static socklen_t sa_from_ip(const struct tr_ip *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip->family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		memcpy(&a->sin_addr, ip->bytes, 4);
		return sizeof(*a);
	}
	{
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		memcpy(&a->sin6_addr, ip->bytes, 16);
		return sizeof(*a);
	}
}

static const char *ip_str(const struct tr_ip *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->family, ip->bytes, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/* Close with a reset: the workload sees its connection fail, not end. */
static void close_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Called between bind and connect with the local port (see inbound). */
typedef void (*bound_fn)(void *ctx, uint16_t lport);

/* Connect with a timeout; mark != 0 sets SO_MARK; with bound, the socket
 * is bound first and bound(ctx, port) runs before the SYN leaves. Returns
 * the fd or -errno. */
static int connect_to(const struct tr_ip *ip, uint16_t port, uint32_t mark,
		      bound_fn bound, void *bctx)
{
	uint16_t lport_v, *lport = bound ? &lport_v : NULL;
	struct sockaddr_storage ss, local;
	socklen_t sl = sa_from_ip(ip, port, &ss), ll = sizeof(local);
	int fd = socket(ip->family, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		err = -errno;
		close(fd);
		return err;
	}
	if (lport) {
		/* bind first, so the port is known before the SYN leaves */
		struct sockaddr_storage any;
		struct tr_ip zero = { .family = ip->family };

		if (bind(fd, (struct sockaddr *)&any, sa_from_ip(&zero, 0, &any)) ||
		    getsockname(fd, (struct sockaddr *)&local, &ll)) {
			err = -errno;
			close(fd);
			return err;
		}
		*lport = ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
							 : ((struct sockaddr_in6 *)&local)->sin6_port);
		bound(bctx, *lport);
	}
	set_timeouts(fd, CONNECT_TIMEOUT_S);
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		close(fd);
		return err;
	}
	nodelay(fd);
	return fd;
}

/* SNI: "<dst hex>.<dport hex>.<src hex>.t1.trestle" (DNS-safe labels). */
static void sni_encode(const struct tr_ip *dst, uint16_t dport, const struct tr_ip *src,
		       char *out, size_t len)
{
	char d[33], s[33];
	size_t dn = dst->family == AF_INET ? 4 : 16, sn = src->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < dn; i++)
		snprintf(d + 2 * i, 3, "%02x", dst->bytes[i]);
	for (size_t i = 0; i < sn; i++)
		snprintf(s + 2 * i, 3, "%02x", src->bytes[i]);
	snprintf(out, len, "%s.%04x.%s.t1.trestle", d, dport, s);
}

static int hex_ip(const char *h, size_t n, struct tr_ip *ip)
{
	if (n != 8 && n != 32)
		return -1;
	memset(ip, 0, sizeof(*ip));
	ip->family = n == 8 ? AF_INET : AF_INET6;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;

		if (sscanf(h + 2 * i, "%2x", &b) != 1)
			return -1;
		ip->bytes[i] = (uint8_t)b;
	}
	return 0;
}

static int sni_decode(const char *sni, struct tr_ip *dst, uint16_t *dport, struct tr_ip *src)
{
	const char *a = sni, *b, *c, *e;
	unsigned int port;

	if (!sni || !(b = strchr(a, '.')) || !(c = strchr(b + 1, '.')) ||
	    !(e = strchr(c + 1, '.')) || strcmp(e, ".t1.trestle"))
		return -1;
	if (hex_ip(a, (size_t)(b - a), dst) || c - b - 1 != 4 ||
	    sscanf(b + 1, "%4x", &port) != 1 || hex_ip(c + 1, (size_t)(e - c - 1), src))
		return -1;
	*dport = (uint16_t)port;
	return 0;
}

/* ---- registry and counters ---------------------------------------------- */

static void count_handshake(struct tunnel_svc *s, enum tun_way w, enum tr_tls_reason r)
{
	pthread_mutex_lock(&s->lock);
	s->st.handshakes[w][r < TR_TLS_REASON_MAX ? r : TR_TLS_HANDSHAKE]++;
	pthread_mutex_unlock(&s->lock);
}

static void count_refusal(struct tunnel_svc *s, enum tun_way w, enum tun_refusal r)
{
	pthread_mutex_lock(&s->lock);
	s->st.refused[w][r]++;
	pthread_mutex_unlock(&s->lock);
}

static void list_add(struct tunnel *t)
{
	struct tunnel_svc *s = t->svc;

	pthread_mutex_lock(&s->lock);
	t->next = s->head;
	if (s->head)
		s->head->prev = t;
	s->head = t;
	t->listed = true;
	s->st.connections[t->way][t->path]++;
	s->st.active[t->way][t->path]++;
	pthread_mutex_unlock(&s->lock);
}

/* Called by a tunnel thread as its last act: leave its id to be joined. */
static void thread_ended_locked(struct tunnel_svc *s)
{
	if (s->n_ended == s->cap_ended) {
		size_t cap = s->cap_ended ? 2 * s->cap_ended : 16;
		pthread_t *v = realloc(s->ended, cap * sizeof(*v));

		if (!v) {
			/* nobody can join it then: let it go by itself */
			pthread_detach(pthread_self());
			return;
		}
		s->ended = v;
		s->cap_ended = cap;
	}
	s->ended[s->n_ended++] = pthread_self();
}

/* Join the tunnel threads that have ended (they are at most finishing). */
static void reap_ended(struct tunnel_svc *s)
{
	pthread_t *v;
	size_t n, i;

	pthread_mutex_lock(&s->lock);
	v = s->ended;
	n = s->n_ended;
	s->ended = NULL;
	s->n_ended = s->cap_ended = 0;
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++)
		pthread_join(v[i], NULL);
	free(v);
}

/* in_thread: t's own thread calls this as it ends (else spawn did not
 * start one). */
static void tunnel_free(struct tunnel *t, bool in_thread)
{
	struct tunnel_svc *s = t->svc;

	pthread_mutex_lock(&s->lock);
	if (in_thread)
		thread_ended_locked(s);
	if (t->listed) {
		if (t->prev)
			t->prev->next = t->next;
		else
			s->head = t->next;
		if (t->next)
			t->next->prev = t->prev;
		s->st.active[t->way][t->path]--;
		s->st.bytes_to_peer[t->way] += atomic_load(&t->bytes.to_peer);
		s->st.bytes_to_workload[t->way] += atomic_load(&t->bytes.to_workload);
	}
	s->n_threads--;
	if (!s->n_threads)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	if (t->ssl) {
		ktls_forget(t->ssl);
		SSL_free(t->ssl);
	}
	if (t->afd >= 0)
		close(t->afd);
	if (t->ofd >= 0)
		close(t->ofd);
	tun_dir_put(t->dir);
	free(t);
}

/* ---- TLS steps ------------------------------------------------------------ */

/* Run a blocking handshake step with the socket's timeouts. */
static int tls_step(SSL *ssl, bool server, enum tr_tls_reason *why)
{
	int rc = server ? SSL_accept(ssl) : SSL_connect(ssl);

	if (rc == 1) {
		*why = TR_TLS_OK;
		return 0;
	}
	*why = tls_failure_reason(ssl, SSL_get_error(ssl, rc));
	ERR_clear_error();
	return -1;
}

static void tls_describe(struct tunnel *t)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);

	snprintf(t->version, sizeof(t->version), "%s", SSL_get_version(t->ssl));
	snprintf(t->cipher, sizeof(t->cipher), "%s", c ? SSL_CIPHER_get_name(c) : "?");
}

/* Decide the path and relay until the tunnel ends. */
static void tunnel_run(struct tunnel *t, int pfd, int tfd, uint64_t tx_seq, uint64_t rx_seq)
{
	char why[160] = "";
	int rc;

	t->path = TUN_PATH_USERSPACE;
	if (t->svc->use_ktls) {
		char kwhy[128];

		if (!ktls_install(t->ssl, tfd, tx_seq, rx_seq, kwhy, sizeof(kwhy)))
			t->path = TUN_PATH_KTLS;
		else
			log_warn("tunnel %llu: kernel TLS not used (%s): relaying in userspace",
				 (unsigned long long)t->id, kwhy);
	}
	list_add(t);
	log_debug("tunnel %llu %s: %s <-> %s via %s (%s, %s, %s)", (unsigned long long)t->id,
		  t->way == TUN_OUTBOUND ? "out" : "in", t->local_id, t->remote_id,
		  t->peer_node, t->version, t->cipher,
		  t->path == TUN_PATH_KTLS ? "ktls" : "userspace");
	set_timeouts(pfd, 0);
	set_timeouts(tfd, 0);
	if (t->path == TUN_PATH_KTLS)
		rc = relay_kernel(pfd, tfd, &t->bytes, &t->svc->stop, why, sizeof(why));
	else
		rc = relay_userspace(pfd, t->ssl, tfd, &t->bytes, &t->svc->stop, why, sizeof(why));
	if (rc) {
		log_info("tunnel %llu ended: %s", (unsigned long long)t->id, why);
		/* reset both: a half-delivered stream must not look complete */
		close_rst(t->afd);
		close_rst(t->ofd);
		t->afd = t->ofd = -1;
	}
}

/* ---- outbound ------------------------------------------------------------- */

static void outbound(struct tunnel *t)
{
	struct tunnel_svc *s = t->svc;
	const struct tun_pod *src, *dst;
	const struct tr_ip *node_ip;
	struct tr_tun_key k = {};
	struct tr_tun_orig o;
	struct spiffe_id peer;
	enum tr_tls_reason why;
	char a[64], b[64], sni[128], expected[SPIFFE_ID_MAX];
	unsigned char verdict[4];
	uint16_t sport;
	SSL_CTX *ctx;

	ip_from_sa(&t->peer, &t->src, &sport);
	k.family = t->src.family == AF_INET ? TR_AF_INET : TR_AF_INET6;
	memcpy(k.addr, t->src.bytes, t->src.family == AF_INET ? 4 : 16);
	k.port = htons(sport);
	if (bpf_map_lookup_elem(s->cfg.tun_orig_fd, &k, &o)) {
		count_refusal(s, TUN_OUTBOUND, TUN_REF_NO_ORIGINAL_DST);
		log_warn("tunnel: connection from %s:%u to the outbound port was not steered by the kernel: refused",
			 ip_str(&t->src, a, sizeof(a)), sport);
		goto refuse;
	}
	bpf_map_delete_elem(s->cfg.tun_orig_fd, &k);
	memset(&t->dst, 0, sizeof(t->dst));
	t->dst.family = o.family == TR_AF_INET ? AF_INET : AF_INET6;
	memcpy(t->dst.bytes, o.daddr, t->dst.family == AF_INET ? 4 : 16);
	t->dport = ntohs(o.dport);

	src = tun_dir_pod(t->dir, &t->src);
	dst = tun_dir_pod(t->dir, &t->dst);
	if (!src || (o.src_workload && src->wl_id && src->wl_id != o.src_workload)) {
		count_refusal(s, TUN_OUTBOUND, TUN_REF_SOURCE_MISMATCH);
		log_warn("tunnel: source %s is not the workload the kernel recorded: refused",
			 ip_str(&t->src, a, sizeof(a)));
		goto refuse;
	}
	if (!dst) {
		count_refusal(s, TUN_OUTBOUND, TUN_REF_UNKNOWN_DESTINATION);
		log_warn("tunnel: destination %s is no longer a known workload: refused",
			 ip_str(&t->dst, b, sizeof(b)));
		goto refuse;
	}
	node_ip = tun_dir_node_ip(t->dir, dst->node, t->dst.family);
	if (!node_ip) {
		count_refusal(s, TUN_OUTBOUND, TUN_REF_NO_NODE_ADDRESS);
		log_warn("tunnel: node '%s' of %s/%s has no InternalIP in its Node object: refused (hint: add status.addresses with type InternalIP)",
			 dst->node, dst->ns, dst->name);
		goto refuse;
	}
	snprintf(t->peer_node, sizeof(t->peer_node), "%s", dst->node);
	snprintf(t->local_id, sizeof(t->local_id), "spiffe://%s/ns/%s/sa/%s",
		 t->dir->trust_domain, src->ns, src->sa);
	snprintf(expected, sizeof(expected), "spiffe://%s/ns/%s/sa/%s",
		 t->dir->trust_domain, dst->ns, dst->sa);

	ctx = certstore_ctx(s->cfg.certs, src->ns, src->sa, TLS_ROLE_CLIENT, &why);
	if (!ctx) {
		count_handshake(s, TUN_OUTBOUND, why);
		log_warn("tunnel: no usable certificate for %s (%s): connection from %s refused, never sent in clear",
			 t->local_id, tr_tls_reason_name(why), ip_str(&t->src, a, sizeof(a)));
		goto refuse;
	}
	t->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (!t->ssl)
		goto refuse;
	t->ofd = connect_to(node_ip, s->cfg.inbound_port, 0, NULL, NULL);
	if (t->ofd < 0) {
		count_refusal(s, TUN_OUTBOUND, TUN_REF_PEER_UNREACHABLE);
		log_warn("tunnel: node %s agent at %s:%u: %s", dst->node, ip_str(node_ip, b, sizeof(b)),
			 s->cfg.inbound_port, strerror(-t->ofd));
		goto refuse;
	}
	set_timeouts(t->ofd, HANDSHAKE_TIMEOUT_S);
	sni_encode(&t->dst, t->dport, &t->src, sni, sizeof(sni));
	SSL_set_tlsext_host_name(t->ssl, sni);
	SSL_set_fd(t->ssl, t->ofd);
	if (tls_step(t->ssl, false, &why)) {
		count_handshake(s, TUN_OUTBOUND, why);
		log_warn("tunnel: TLS to node %s (%s) for %s -> %s failed: %s", dst->node,
			 ip_str(node_ip, b, sizeof(b)), t->local_id, expected, tr_tls_reason_name(why));
		goto refuse;
	}
	if (tls_peer_identity(t->ssl, &peer)) {
		count_handshake(s, TUN_OUTBOUND, TR_TLS_NO_SPIFFE_ID);
		goto refuse;
	}
	spiffe_id_format(&peer, t->remote_id, sizeof(t->remote_id));
	if (strcmp(t->remote_id, expected)) {
		count_handshake(s, TUN_OUTBOUND, TR_TLS_WRONG_IDENTITY);
		log_warn("tunnel: node %s presented %s for %s, which is %s: refused (wrong_identity)",
			 dst->node, t->remote_id, ip_str(&t->dst, b, sizeof(b)), expected);
		goto refuse;
	}
	count_handshake(s, TUN_OUTBOUND, TR_TLS_OK);
	tls_describe(t);
	if (SSL_read(t->ssl, verdict, sizeof(verdict)) != (int)sizeof(verdict) ||
	    verdict[0] != VERDICT_MAGIC || verdict[1] != VERDICT_VERSION) {
		count_refusal(s, TUN_OUTBOUND, TUN_REF_PEER_REFUSED);
		log_warn("tunnel: node %s sent no verdict for %s -> %s", dst->node, t->local_id,
			 t->remote_id);
		ERR_clear_error();
		goto refuse;
	}
	if (verdict[2] != V_OK) {
		count_refusal(s, TUN_OUTBOUND, verdict[2] == V_DENIED ? TUN_REF_POLICY_DENIED :
								     TUN_REF_PEER_REFUSED);
		log_info("tunnel: node %s refused %s -> %s:%u (%s)", dst->node, t->local_id,
			 ip_str(&t->dst, b, sizeof(b)), t->dport,
			 verdict[2] == V_DENIED ? "denied by policy" :
			 verdict[2] == V_REFUSED ? "workload refused the connection" :
			 verdict[2] == V_SOURCE ? "source address does not match the certificate" :
						 "unknown destination");
		goto refuse;
	}
	nodelay(t->afd);
	tunnel_run(t, t->afd, t->ofd, 0, 1);
	return;
refuse:
	close_rst(t->afd);
	t->afd = -1;
}

/* ---- inbound -------------------------------------------------------------- */

/* SNI: pick the destination workload's context. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct tunnel *t = SSL_get_app_data(ssl);
	const struct tun_pod *dst;
	struct tr_ip src;
	enum tr_tls_reason why;
	SSL_CTX *ctx;

	(void)arg;
	if (!t || sni_decode(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), &t->dst,
			     &t->dport, &src)) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	t->src = src;
	dst = tun_dir_pod(t->dir, &t->dst);
	if (!dst || strcmp(dst->node, t->dir->local_node)) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	ctx = certstore_ctx(t->svc->cfg.certs, dst->ns, dst->sa, TLS_ROLE_SERVER, &why);
	if (!ctx) {
		log_warn("tunnel: no usable certificate for %s/%s (%s): inbound tunnel refused",
			 dst->ns, dst->sa, tr_tls_reason_name(why));
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	SSL_set_SSL_CTX(ssl, ctx);
	SSL_CTX_free(ctx);
	snprintf(t->local_id, sizeof(t->local_id), "spiffe://%s/ns/%s/sa/%s",
		 t->dir->trust_domain, dst->ns, dst->sa);
	return SSL_TLSEXT_ERR_OK;
}

/* The kernel's verdict for src -> dst:port, read from the same maps. */
static bool authorized(const struct tr_pol_fds *fds, const struct tr_ip *src,
		       const struct tr_ip *dst, uint16_t port)
{
	struct tr_pol_cfg cfg;
	struct tr_ipinfo si, di;
	struct tr_pol_verdict v;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fds->cfg, &zero, &cfg) || !cfg.epoch)
		return true; /* no policy state: everything allowed, as in the kernel */
	if (dst->family == AF_INET) {
		struct tr_ip4_lpm_key lk = { .prefixlen = 64, .epoch = cfg.epoch };

		memcpy(&lk.addr, dst->bytes, 4);
		if (bpf_map_lookup_elem(fds->ip4, &lk, &di))
			return true;
		memcpy(&lk.addr, src->bytes, 4);
		if (bpf_map_lookup_elem(fds->ip4, &lk, &si))
			return false;
	} else {
		struct tr_ip6_lpm_key lk = { .prefixlen = 160, .epoch = cfg.epoch };

		memcpy(lk.addr, dst->bytes, 16);
		if (bpf_map_lookup_elem(fds->ip6, &lk, &di))
			return true;
		memcpy(lk.addr, src->bytes, 16);
		if (bpf_map_lookup_elem(fds->ip6, &lk, &si))
			return false;
	}
	if (!di.dst_class)
		return true;
	/* no verdict at all: the kernel fails closed too */
	return polmaps_verdict(fds->pol, fds->pol_dst, di.dst_class, si.src_class, port, &v) >
		       POL_V_NONE && v.action == TR_ACT_ALLOW;
}

static void send_verdict(SSL *ssl, enum verdict_code c)
{
	unsigned char v[4] = { VERDICT_MAGIC, VERDICT_VERSION, (unsigned char)c, 0 };

	if (SSL_write(ssl, v, sizeof(v)) != (int)sizeof(v))
		ERR_clear_error();
}

struct peer_bind {
	struct tunnel *t;
	uint32_t src_wl;
};

/* Name the source for the accepting workload's metrics (sockops reads it
 * when that side is established, before connect() returns here). */
static void name_peer(void *ctx, uint16_t lport)
{
	struct peer_bind *pb = ctx;
	struct tr_tun_peer_key pk = { .agent_port = htons(lport) };
	struct tr_tun_peer pv = { .src_workload = pb->src_wl };
	const struct tr_ip *d = &pb->t->dst;

	if (!pb->src_wl)
		return;
	pk.family = d->family == AF_INET ? TR_AF_INET : TR_AF_INET6;
	memcpy(pk.waddr, d->bytes, d->family == AF_INET ? 4 : 16);
	bpf_map_update_elem(pb->t->svc->cfg.tun_peer_fd, &pk, &pv, BPF_ANY);
}

static void inbound(struct tunnel *t)
{
	struct tunnel_svc *s = t->svc;
	const struct tun_pod *src, *dst;
	struct spiffe_id peer;
	enum tr_tls_reason why;
	char a[64], b[64], pa[64];
	struct peer_bind pb;
	uint16_t pport;
	struct tr_ip pip;

	ip_from_sa(&t->peer, &pip, &pport);
	ip_str(&pip, pa, sizeof(pa));
	set_timeouts(t->afd, HANDSHAKE_TIMEOUT_S);
	nodelay(t->afd);
	SSL_set_fd(t->ssl, t->afd);
	if (tls_step(t->ssl, true, &why) ||
	    (SSL_version(t->ssl) != TLS1_3_VERSION && (why = TR_TLS_PROTOCOL_VERSION))) {
		count_handshake(s, TUN_INBOUND, why);
		log_warn("tunnel: TLS from %s:%u refused: %s", pa, pport, tr_tls_reason_name(why));
		return;
	}
	if (tls_peer_identity(t->ssl, &peer)) {
		count_handshake(s, TUN_INBOUND, TR_TLS_NO_SPIFFE_ID);
		return;
	}
	spiffe_id_format(&peer, t->remote_id, sizeof(t->remote_id));
	count_handshake(s, TUN_INBOUND, TR_TLS_OK);
	tls_describe(t);

	/* the claimed source address must be a Pod with exactly that identity */
	src = tun_dir_pod(t->dir, &t->src);
	if (!src || strcmp(src->ns, peer.ns) || strcmp(src->sa, peer.sa)) {
		count_refusal(s, TUN_INBOUND, TUN_REF_SOURCE_MISMATCH);
		log_warn("tunnel: %s (from %s) claims source %s, which is not a workload with that identity: refused",
			 t->remote_id, pa, ip_str(&t->src, a, sizeof(a)));
		send_verdict(t->ssl, V_SOURCE);
		return;
	}
	snprintf(t->peer_node, sizeof(t->peer_node), "%s", src->node);
	dst = tun_dir_pod(t->dir, &t->dst);
	if (!dst) {
		count_refusal(s, TUN_INBOUND, TUN_REF_UNKNOWN_DESTINATION);
		send_verdict(t->ssl, V_UNKNOWN);
		return;
	}
	if (!authorized(s->cfg.pol, &t->src, &t->dst, t->dport)) {
		count_refusal(s, TUN_INBOUND, TUN_REF_POLICY_DENIED);
		log_info("tunnel: %s -> %s:%u denied by policy (source %s)", t->remote_id,
			 ip_str(&t->dst, b, sizeof(b)), t->dport, ip_str(&t->src, a, sizeof(a)));
		send_verdict(t->ssl, V_DENIED);
		return;
	}
	pb.t = t;
	pb.src_wl = src->wl_id;
	t->ofd = connect_to(&t->dst, t->dport, TR_MARK_AGENT, name_peer, &pb);
	if (t->ofd < 0) {
		count_refusal(s, TUN_INBOUND, TUN_REF_WORKLOAD_UNREACHABLE);
		log_info("tunnel: %s -> %s:%u: %s", t->remote_id, ip_str(&t->dst, b, sizeof(b)),
			 t->dport, strerror(-t->ofd));
		send_verdict(t->ssl, V_REFUSED);
		return;
	}
	send_verdict(t->ssl, V_OK);
	tunnel_run(t, t->ofd, t->afd, 1, 0);
}

/* ---- threads ---------------------------------------------------------------- */

static void *tunnel_thread(void *arg)
{
	struct tunnel *t = arg;

	if (t->way == TUN_OUTBOUND)
		outbound(t);
	else
		inbound(t);
	tunnel_free(t, true);
	return NULL;
}

static void spawn(struct tunnel_svc *s, int fd, enum tun_way way,
		  const struct sockaddr_storage *peer)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	pthread_attr_t attr;
	pthread_t th;

	reap_ended(s);
	if (!t) {
		close_rst(fd);
		return;
	}
	t->svc = s;
	t->way = way;
	t->afd = fd;
	t->ofd = -1;
	t->peer = *peer;
	t->started = time(NULL);
	pthread_mutex_lock(&s->lock);
	t->id = ++s->next_id;
	t->dir = tun_dir_ref(s->dir);
	s->n_threads++;
	pthread_mutex_unlock(&s->lock);
	if (way == TUN_INBOUND) {
		SSL_CTX *base = certstore_base_server_ctx(s->cfg.certs);

		t->ssl = base ? SSL_new(base) : NULL;
		if (base) {
			SSL_CTX_set_tlsext_servername_callback(base, servername_cb);
			SSL_CTX_free(base);
		}
		if (!t->ssl) {
			log_warn("tunnel: no TLS context for inbound tunnels (trust bundle missing?)");
			count_handshake(s, TUN_INBOUND, TR_TLS_NO_LOCAL_CERT);
			tunnel_free(t, false);
			return;
		}
		SSL_set_app_data(t->ssl, t);
		/* the bounds stay the first context's when SNI swaps it: pin them */
		SSL_set_min_proto_version(t->ssl, TLS1_3_VERSION);
	}
	if (!t->dir) {
		tunnel_free(t, false);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	if (pthread_create(&th, &attr, tunnel_thread, t)) {
		log_warn("tunnel: cannot start a thread: %s", strerror(errno));
		tunnel_free(t, false);
	}
	pthread_attr_destroy(&attr);
}

static void *acceptor(void *arg)
{
	struct tunnel_svc *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p[3] = { { .fd = s->lfd[0], .events = POLLIN },
				       { .fd = s->lfd[1], .events = POLLIN },
				       { .fd = s->stop_fd, .events = POLLIN } };

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("tunnel: poll: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < 2; i++) {
			struct sockaddr_storage peer;
			socklen_t pl = sizeof(peer);
			int fd;

			if (!(p[i].revents & POLLIN))
				continue;
			fd = accept4(s->lfd[i], (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			spawn(s, fd, i == 0 ? TUN_OUTBOUND : TUN_INBOUND, &peer);
		}
	}
	return NULL;
}

static int listen_on(uint16_t port, char *err, size_t len)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), zero = 0, one = 1;

	if (fd < 0) {
		/* no IPv6 in this namespace: IPv4 only */
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
		    !bind(fd, (struct sockaddr *)&a4, sizeof(a4)) && !listen(fd, 1024))
			return fd;
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) && !listen(fd, 1024))
			return fd;
	}
	snprintf(err, len, "cannot listen on port %u: %s (hint: another agent or program uses it?)",
		 port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

struct tunnel_svc *tunnel_start(const struct tunnel_config *cfg, char *err, size_t len)
{
	struct tunnel_svc *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->lfd[0] = s->lfd[1] = s->stop_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->use_ktls = cfg->ktls && ktls_available();
	if ((s->lfd[0] = listen_on(cfg->outbound_port, err, len)) < 0 ||
	    (s->lfd[1] = listen_on(cfg->inbound_port, err, len)) < 0)
		goto fail;
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0 || pthread_create(&s->acceptor, NULL, acceptor, s)) {
		snprintf(err, len, "cannot start the tunnel acceptor: %s", strerror(errno));
		goto fail;
	}
	log_info("tunnels: outbound port %u, inbound port %u, %s", cfg->outbound_port,
		 cfg->inbound_port,
		 s->use_ktls ? "kernel TLS" :
		 cfg->ktls ? "userspace TLS (this kernel has no kTLS)" : "userspace TLS (--no-ktls)");
	return s;
fail:
	for (int i = 0; i < 2; i++)
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
	return NULL;
}

void tunnel_set_dir(struct tunnel_svc *s, struct tun_dir *d)
{
	struct tun_dir *old;

	pthread_mutex_lock(&s->lock);
	old = s->dir;
	s->dir = d;
	pthread_mutex_unlock(&s->lock);
	tun_dir_put(old);
}

void tunnel_stats(struct tunnel_svc *s, struct tunnel_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	for (struct tunnel *t = s->head; t; t = t->next) {
		out->bytes_to_peer[t->way] += atomic_load(&t->bytes.to_peer);
		out->bytes_to_workload[t->way] += atomic_load(&t->bytes.to_workload);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Tabs and newlines cannot occur in the fields (addresses, SPIFFE IDs,
 * node names, OpenSSL names), so a line per tunnel is unambiguous. */
void tunnel_list(struct tunnel_svc *s, FILE *f)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&s->lock);
	for (struct tunnel *t = s->head; t; t = t->next) {
		char a[64], b[64];

		fprintf(f, "%llu\t%s\t%s\t%s\t%s\t%s\t%s\t%u\t%s\t%s\t%s\t%llu\t%llu\t%lld\n",
			(unsigned long long)t->id,
			t->way == TUN_OUTBOUND ? "outbound" : "inbound",
			t->peer_node[0] ? t->peer_node : "-", t->local_id, t->remote_id,
			ip_str(&t->src, a, sizeof(a)), ip_str(&t->dst, b, sizeof(b)), t->dport,
			t->version, t->cipher, t->path == TUN_PATH_KTLS ? "ktls" : "userspace",
			(unsigned long long)atomic_load(&t->bytes.to_peer),
			(unsigned long long)atomic_load(&t->bytes.to_workload),
			(long long)(now - t->started));
	}
	pthread_mutex_unlock(&s->lock);
}

void tunnel_stop(struct tunnel_svc *s)
{
	uint64_t one = 1;
	struct timespec deadline;

	if (!s)
		return;
	atomic_store(&s->stop, 1);
	if (write(s->stop_fd, &one, sizeof(one)) < 0)
		log_debug("tunnel: wake acceptor: %s", strerror(errno));
	pthread_join(s->acceptor, NULL);
	close(s->lfd[0]);
	close(s->lfd[1]);
	close(s->stop_fd);
	/* tunnel threads notice stop within a poll interval */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += HANDSHAKE_TIMEOUT_S + 2;
	pthread_mutex_lock(&s->lock);
	while (s->n_threads)
		if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline))
			break;
	pthread_mutex_unlock(&s->lock);
	if (s->n_threads) {
		log_warn("tunnel: %zu tunnel threads did not end in time", s->n_threads);
		return; /* leak rather than free what threads still use */
	}
	reap_ended(s);
	tun_dir_put(s->dir);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s);
}
