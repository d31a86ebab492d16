/* Burst I/O for one RX/TX queue pair. Every array lives in C memory so that
 * Go reads and writes it in place and crosses into C once per burst. */
#ifndef PMD_QUEUE_H
#define PMD_QUEUE_H

#include <stdint.h>
#include <string.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ether.h>

#define PMD_BURST_MAX 256
#define PMD_TX_MAX 1024
#define PMD_FREE_MAX 1024
#define PMD_STASH 64
/* The bytes of a fresh mbuf's data that pmd_q_refill prefetches for
 * writing: the headers. Send asks for the rest of the next one. */
#define PMD_STASH_PREFETCHED (2 * RTE_CACHE_LINE_SIZE)

struct pmd_q {
	uint16_t port, queue, burst;
	struct rte_mempool *pool;

	uint16_t nrx;
	struct rte_mbuf *rx[PMD_BURST_MAX];
	void *rxdata[PMD_BURST_MAX];
	uint16_t rxlen[PMD_BURST_MAX];
	uint16_t rxroom[PMD_BURST_MAX]; /* data_len + tailroom */
	uint64_t rxol[PMD_BURST_MAX];
	uint32_t rxhash[PMD_BURST_MAX];
	uint16_t rxvlan[PMD_BURST_MAX]; /* the stripped 802.1Q TCI; 0: untagged */

	uint16_t ntx;
	uint16_t nprep; /* tx[:nprep] were prepared by a flush the device refused */
	struct rte_mbuf *tx[PMD_TX_MAX];
	uint16_t txlen[PMD_TX_MAX];
	uint32_t txoff[PMD_TX_MAX]; /* dev.Offload */

	/* VLANs: the device inserts tags (else rte_vlan_insert does), and
	 * tags the device left in a frame are stripped in software. */
	uint8_t vlan_hw_insert, vlan_sw_strip;

	uint16_t nfree;
	struct rte_mbuf *free[PMD_FREE_MAX];

	uint16_t nstash;
	struct rte_mbuf *stash[PMD_STASH];
	void *stashdata[PMD_STASH];
	uint16_t stashroom[PMD_STASH];

	uint64_t tx_full, alloc_fail, multiseg, vlan_insert_fail;
};

/* pmd_prefetchw asks for a line in a state that allows writing. GCC's
 * __builtin_prefetch(p, 1, ...) emits it only with -mprfchw, and
 * otherwise a read prefetch, after which the first store still waits for
 * the line to be taken from the other CPU. */
static inline void pmd_prefetchw(const void *p)
{
#if defined(__x86_64__)
	asm volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

static inline void pmd_q_free(struct pmd_q *q)
{
	if (q->nfree) {
		rte_pktmbuf_free_bulk(q->free, q->nfree);
		q->nfree = 0;
	}
}

/* pmd_q_flush sends what is queued. What the device refuses stays queued,
 * prepared, for the next flush while there is room; Go frees a packet it
 * cannot queue. A frame whose tag cannot be inserted in software (no
 * headroom: not seen with pmd's buffers) is dropped and counted. */
static inline void pmd_q_flush(struct pmd_q *q)
{
	uint16_t i, k = q->nprep, n = q->ntx, sent;

	for (i = q->nprep; i < n; i++) {
		struct rte_mbuf *m = q->tx[i];
		uint32_t off = q->txoff[i];
		uint16_t tci = off >> 16;
		uint64_t ol = 0;
		m->data_len = q->txlen[i];
		m->pkt_len = q->txlen[i];
		m->l2_len = 14;
		if (off & 0xff) {
			ol = RTE_MBUF_F_TX_IPV4;
			if (off & 1)
				ol |= RTE_MBUF_F_TX_IP_CKSUM;
			if (off & 2)
				ol |= RTE_MBUF_F_TX_UDP_CKSUM;
			if (off & 4)
				ol |= RTE_MBUF_F_TX_TCP_CKSUM;
			m->l3_len = (off >> 8) & 0xff;
		}
		m->ol_flags = ol;
		if (unlikely(tci != 0)) {
			m->vlan_tci = tci;
			if (q->vlan_hw_insert) {
				m->ol_flags |= RTE_MBUF_F_TX_VLAN;
			} else if (rte_vlan_insert(&m) != 0) {
				q->vlan_insert_fail++;
				rte_pktmbuf_free(m);
				continue;
			}
		}
		q->tx[k++] = m;
	}
	n = k;
	sent = n ? rte_eth_tx_burst(q->port, q->queue, q->tx, n) : 0;
	if (sent < n)
		memmove(q->tx, q->tx + sent, (n - sent) * sizeof(q->tx[0]));
	q->ntx = q->nprep = n - sent;
	pmd_q_free(q);
}

static inline void pmd_q_refill(struct pmd_q *q)
{
	uint16_t want = PMD_STASH - q->nstash, i;

	if (q->nstash >= PMD_STASH / 2)
		return;
	while (want > 0 && rte_pktmbuf_alloc_bulk(q->pool, q->stash + q->nstash, want) != 0)
		want /= 2;
	for (i = q->nstash; i < q->nstash + want; i++) {
		struct rte_mbuf *m = q->stash[i];
		q->stashdata[i] = rte_pktmbuf_mtod(m, void *);
		q->stashroom[i] = rte_pktmbuf_tailroom(m);
		/* Headers are written here next; an mbuf back from another
		 * CPU (zero-copy devices) would miss on each one. */
		for (int o = 0; o < PMD_STASH_PREFETCHED; o += RTE_CACHE_LINE_SIZE)
			pmd_prefetchw((char *)q->stashdata[i] + o);
	}
	q->nstash += want;
}

/* pmd_q_poll is one crossing per poll: flush, free, refill, receive. */
static inline uint16_t pmd_q_poll(struct pmd_q *q)
{
	uint16_t n, i, k = 0;

	pmd_q_flush(q);
	pmd_q_refill(q);
	n = rte_eth_rx_burst(q->port, q->queue, q->rx, q->burst);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = q->rx[i];
		if (unlikely(m->nb_segs != 1)) {
			q->multiseg++;
			rte_pktmbuf_free(m);
			continue;
		}
		q->rxvlan[k] = 0;
		if (q->vlan_sw_strip && !(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && m->data_len >= 18 &&
		    rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN))
			rte_vlan_strip(m);
		if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED)
			q->rxvlan[k] = m->vlan_tci;
		q->rx[k] = m;
		q->rxdata[k] = rte_pktmbuf_mtod(m, void *);
		/* The headers are read next, and on a device that hands over
		 * frames another CPU wrote (net_memif with zero-copy=yes)
		 * every first touch misses: start all of the burst's loads
		 * now. Ethernet, IPv4 and TCP with options span two lines. */
		rte_prefetch0(q->rxdata[k]);
		rte_prefetch0((char *)q->rxdata[k] + RTE_CACHE_LINE_SIZE);
		q->rxlen[k] = m->data_len;
		q->rxroom[k] = m->data_len + rte_pktmbuf_tailroom(m);
		q->rxol[k] = m->ol_flags;
		q->rxhash[k] = m->hash.rss;
		k++;
	}
	q->nrx = k;
	return k;
}

/* The entry points Go calls on every poll take the queue as an integer:
 * cgo checks every pointer argument for Go pointers at run time, and this
 * one is C memory. */
static inline uint16_t pmd_q_poll_h(uintptr_t q) { return pmd_q_poll((struct pmd_q *)q); }
static inline void pmd_q_flush_h(uintptr_t q) { pmd_q_flush((struct pmd_q *)q); }
static inline void pmd_q_refill_h(uintptr_t q) { pmd_q_refill((struct pmd_q *)q); }
static inline void pmd_q_free_h(uintptr_t q) { pmd_q_free((struct pmd_q *)q); }

#endif
