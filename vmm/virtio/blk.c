// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk device. Request layout (5.2.6): a 16-byte device-readable header
 * {type, reserved, sector}, then data, then one device-writable status byte, the last
 * byte of the chain. The header and data may be split across descriptors in any way;
 * they are handled as byte streams over the chain's readable and writable parts.
 *
 * Ordering and lifetime: a request's iovecs point into guest memory. Before a reset or
 * an update returns, every submitted request has completed (or been cancelled), so the
 * guest may reuse that memory at once; completions drained by a reset write nothing,
 * those drained by an update (the driver still runs) are reported to the guest.
 */
#include "vmm/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "vmm/log.h"
#include "vmm/rate_limiter.h"
#include "vmm/util.h"

/* Request types and status values (5.2.6). */
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_T_DISCARD 11
#define BLK_T_WRITE_ZEROES 13
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

/* Feature bits (5.2.3). */
#define BLK_F_SEG_MAX 2
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_DISCARD 13
#define BLK_F_WRITE_ZEROES 14

#define BLK_ID_BYTES 20
#define SECTOR 512ULL
#define MAX_DISCARD_SECTORS (1U << 23) /* 4 GiB per request */
#define HDR_LEN 16

/* Config space (5.2.4), little-endian like the host. */
struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads, sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp, alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t wce, unused;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct blk_config) == 60, "virtio_blk_config layout");

enum blk_op { OP_READ, OP_WRITE, OP_FLUSH, OP_FALLOC };

struct blk_req {
	bool in_use;
	enum blk_op op;
	int falloc_mode;
	uint16_t head;
	uint8_t *status; /* guest byte, last of the chain */
	uint32_t used_len; /* reported on success */
	uint64_t off, len, done;
	int niov;
	int iov_first; /* iov[] before this is transferred; iov[iov_first] trimmed by... */
	uint64_t iov_at; /* ...up to this many bytes of done (see req_iov) */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

struct virtio_blk {
	struct virtio_mmio_dev mmio;
	char id[BLK_ID_BYTES];
	int fd;
	bool read_only;
	bool can_punch; /* FALLOC_FL_PUNCH_HOLE works on the backing file */
	bool no_zero_range; /* FALLOC_FL_ZERO_RANGE refused once: punch instead */
	enum cache_type_cfg cache;
	enum io_engine_cfg engine;
	uint64_t capacity; /* sectors */
	struct blk_config config;

	struct rate_limiter rl;
	struct ev_source rl_src;
	bool rl_on_loop;

	struct io_uring ring;
	bool ring_ready;
	/*
	 * defer: a SINGLE_ISSUER | DEFER_TASKRUN ring. Only the thread that set it up (the
	 * VMM thread) may enter it; completions are announced on ring_efd, a registered
	 * eventfd watched edge-triggered (never read). Otherwise ring_src watches the ring fd,
	 * readable while CQEs wait.
	 */
	bool defer;
	bool defer_left; /* the last run of deferred work left some (defer_recheck) */
	pthread_t ring_owner;
	int ring_efd;
	struct ev_source ring_src;
	bool ring_on_loop;
	uint64_t activation_ns;
	struct ev_poller poller;
	/* The loop thread's own: */
	uint64_t busy_ns; /* it saw a kick or a completion, or polled work */
	volatile uint16_t *poll_avail; /* the avail index during a polling spell */
	uint16_t poll_avail_seen; /* where the last look under the lock left it */
	/*
	 * A reset from a vCPU thread on a defer ring: the vCPU cannot reap, so it waits on
	 * drained (device lock released) while the VMM thread reaps and drops the results.
	 * stopping: the VM is going away and the VMM thread no longer reaps: stop waiting.
	 */
	unsigned int draining;
	bool drain_cancel_sent;
	bool stopping;
	pthread_cond_t drained;

	unsigned int inflight;
	struct blk_req *reqs; /* VIRTQ_MAX_SIZE */
	struct blk_req *free[VIRTQ_MAX_SIZE];
	unsigned int nfree;
	bool pool_stalled; /* the queue stopped for want of a free slot */
	struct virtq_chain chain; /* scratch for the walker */
};

static struct virtio_blk *to_blk(struct virtio_mmio_dev *vdev)
{
	return vdev->priv;
}

static bool loop_pinned;

void virtio_blk_set_loop_pinned(bool pinned)
{
	loop_pinned = pinned;
}

/* ---- backing file ---- */

static int backing_size(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, bytes) < 0 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

/* Punching a hole past EOF with KEEP_SIZE changes nothing, but tells whether it works. */
static bool probe_punch(int fd, uint64_t size)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)ALIGN_UP(size, 4096ULL) + 4096, 4096) == 0;
}

static int open_backing(const char *path, bool ro, int *fd_out, uint64_t *sectors, bool *punch)
{
	cleanup_close int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	uint64_t bytes = 0;
	int r;

	if (fd < 0)
		return -errno;
	r = backing_size(fd, &bytes);
	if (r < 0)
		return r;
	if (bytes % SECTOR)
		log_warn("virtio-blk: %s: size %llu is not a multiple of 512, tail ignored", path,
			 (unsigned long long)bytes);
	*sectors = bytes / SECTOR;
	*punch = !ro && probe_punch(fd, bytes);
	*fd_out = util_steal_fd(&fd);
	return 0;
}

static void fill_config(struct virtio_blk *blk)
{
	struct blk_config *c = &blk->config;

	memset(c, 0, sizeof(*c));
	c->capacity = blk->capacity;
	c->seg_max = VIRTQ_MAX_SEGS - 2; /* header and status take a descriptor each */
	c->blk_size = SECTOR;
	c->num_queues = 1;
	c->max_discard_sectors = MAX_DISCARD_SECTORS;
	c->max_discard_seg = 1;
	c->discard_sector_alignment = 8;
	c->max_write_zeroes_sectors = MAX_DISCARD_SECTORS;
	c->max_write_zeroes_seg = 1;
	c->write_zeroes_may_unmap = 1;
}

/* ---- request execution ---- */

/* Drop done bytes from the front of an iovec array. */
static void iov_advance(struct iovec **iov, int *niov, uint64_t n)
{
	while (*niov && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*niov)--;
	}
	if (*niov && n) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/*
 * The segments still to move. iov_advance trims req->iov in place, so only what was done
 * since the last call is dropped (advancing by all of done again would skip bytes twice).
 */
static struct iovec *req_iov(struct blk_req *req, int *niov)
{
	struct iovec *iov = req->iov + req->iov_first;
	int n = req->niov - req->iov_first;

	iov_advance(&iov, &n, req->done - req->iov_at);
	req->iov_first = (int)(iov - req->iov);
	req->iov_at = req->done;
	*niov = n;
	return iov;
}

static int exec_sync(struct virtio_blk *blk, struct blk_req *req)
{
	switch (req->op) {
	case OP_READ:
	case OP_WRITE: {
		while (req->done < req->len) {
			ssize_t n;
			off_t off = (off_t)(req->off + req->done);
			int niov;
			struct iovec *iov = req_iov(req, &niov);

			n = req->op == OP_READ ? preadv(blk->fd, iov, MIN(niov, IOV_MAX), off) :
						 pwritev(blk->fd, iov, MIN(niov, IOV_MAX), off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return -EIO; /* the file shrank under us */
			req->done += (uint64_t)n;
		}
		return 0;
	}
	case OP_FLUSH:
		return fdatasync(blk->fd) < 0 ? -errno : 0;
	case OP_FALLOC:
		return fallocate(blk->fd, req->falloc_mode, (off_t)req->off, (off_t)req->len) < 0 ?
			       -errno :
			       0;
	}
	return -EINVAL;
}

/* Queue req on the ring; false when no SQE could be had even after a submit. */
static bool prep_async(struct virtio_blk *blk, struct blk_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&blk->ring);

	if (!sqe) {
		io_uring_submit(&blk->ring);
		sqe = io_uring_get_sqe(&blk->ring);
		if (!sqe)
			return false;
	}
	switch (req->op) {
	case OP_READ:
	case OP_WRITE: {
		int niov;
		struct iovec *iov = req_iov(req, &niov);
		uint64_t off = req->off + req->done;

		/* One segment (the common 4k and 1m cases): no iovec for the kernel to import. */
		if (niov == 1 && req->op == OP_READ)
			io_uring_prep_read(sqe, blk->fd, iov->iov_base, (unsigned int)iov->iov_len, off);
		else if (niov == 1)
			io_uring_prep_write(sqe, blk->fd, iov->iov_base, (unsigned int)iov->iov_len, off);
		else if (req->op == OP_READ)
			io_uring_prep_readv(sqe, blk->fd, iov, (unsigned int)niov, off);
		else
			io_uring_prep_writev(sqe, blk->fd, iov, (unsigned int)niov, off);
		break;
	}
	case OP_FLUSH:
		io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC);
		break;
	case OP_FALLOC:
		io_uring_prep_fallocate(sqe, blk->fd, req->falloc_mode, req->off, req->len);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	return true;
}

/* A stack of free slots: O(1), and the slot just freed (cache-warm) is reused first. */
static struct blk_req *req_get(struct virtio_blk *blk)
{
	struct blk_req *req;

	if (!blk->nfree)
		return NULL;
	req = blk->free[--blk->nfree];
	req->in_use = true;
	return req;
}

static void req_put(struct virtio_blk *blk, struct blk_req *req)
{
	if (!req->in_use)
		return; /* already free: never on the stack twice */
	req->in_use = false;
	blk->free[blk->nfree++] = req;
}

static void req_reset_all(struct virtio_blk *blk)
{
	blk->nfree = 0;
	for (unsigned int i = VIRTQ_MAX_SIZE; i-- > 0;) {
		blk->reqs[i].in_use = false;
		blk->free[blk->nfree++] = &blk->reqs[i];
	}
}

static void complete(struct virtio_blk *blk, struct blk_req *req, uint8_t status, bool *pushed)
{
	*req->status = status;
	virtq_push(&blk->mmio.queues[0], req->head, status == BLK_S_OK ? req->used_len : 1);
	req_put(blk, req);
	*pushed = true;
}

static void signal_used(struct virtio_blk *blk)
{
	if (virtq_should_signal(&blk->mmio.queues[0]))
		virtio_mmio_interrupt(&blk->mmio, VIRTIO_INT_USED);
}

/*
 * Outcome res of one engine pass. Returns true when the request is finished; false
 * when it was resubmitted (short transfer, or a zero-range fallback).
 */
static bool finish_pass(struct virtio_blk *blk, struct blk_req *req, int res, bool *pushed)
{
	if (req->op == OP_FALLOC && res == -EOPNOTSUPP &&
	    (req->falloc_mode & FALLOC_FL_ZERO_RANGE)) {
		/* tmpfs and others punch but do not zero ranges; holes read as zeroes too. */
		blk->no_zero_range = true;
		req->falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		return false;
	}
	if (res < 0) {
		log_debug("virtio-blk: request failed: %s", strerror(-res));
		complete(blk, req, BLK_S_IOERR, pushed);
		return true;
	}
	if (req->op == OP_READ || req->op == OP_WRITE) {
		if (res == 0 && req->done < req->len) {
			complete(blk, req, BLK_S_IOERR, pushed);
			return true;
		}
		req->done += (uint64_t)res;
		if (req->done < req->len)
			return false;
	}
	complete(blk, req, BLK_S_OK, pushed);
	return true;
}

static void run_req(struct virtio_blk *blk, struct blk_req *req, bool *pushed, bool *submit)
{
	if (blk->ring_ready) {
		blk->inflight++;
		if (prep_async(blk, req)) {
			*submit = true;
			return;
		}
		blk->inflight--;
		complete(blk, req, BLK_S_IOERR, pushed);
		return;
	}
	/* Bounded: each resubmission either moves data forward or switches the mode once. */
	for (unsigned int i = 0; i < 4; i++) {
		int res = exec_sync(blk, req);

		/* exec_sync finishes reads and writes itself: report them as one pass. */
		if (res == 0 && (req->op == OP_READ || req->op == OP_WRITE)) {
			complete(blk, req, BLK_S_OK, pushed);
			return;
		}
		if (finish_pass(blk, req, res, pushed))
			return;
	}
	complete(blk, req, BLK_S_IOERR, pushed);
}

/* Copy len bytes at off of the chain's readable (or writable) stream into/out of buf. */
static bool chain_copy(const struct virtq_chain *c, bool writable, uint64_t off, void *buf,
		       uint64_t len, bool to_guest)
{
	unsigned int first = writable ? c->nread : 0, end = writable ? c->nsegs : c->nread;
	uint8_t *p = buf;

	for (unsigned int i = first; i < end && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = MIN(len, s->len - off);
		if (to_guest)
			memcpy(s->hva + off, p, n);
		else
			memcpy(p, s->hva + off, n);
		p += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

/* iovecs for [off, off+len) of a stream; the walker bounded the number of segments. */
static int chain_iov(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		     struct iovec *iov)
{
	unsigned int first = writable ? c->nread : 0, end = writable ? c->nsegs : c->nread;
	int n = 0;

	for (unsigned int i = first; i < end && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint64_t take;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		take = MIN(len, s->len - off);
		iov[n].iov_base = s->hva + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t nsec)
{
	return util_range_ok(sector, nsec, blk->capacity);
}

enum req_outcome { REQ_DONE, REQ_RETRY_LATER };

/* Status byte for requests decided without I/O. */
static void answer(struct virtio_blk *blk, const struct virtq_chain *c, uint8_t *status,
		   uint8_t val, uint32_t used_len, bool *pushed)
{
	*status = val;
	virtq_push(&blk->mmio.queues[0], c->head, used_len);
	*pushed = true;
}

static enum req_outcome handle(struct virtio_blk *blk, const struct virtq_chain *c, bool *pushed,
			       bool *submit)
{
	struct {
		uint32_t type, ioprio;
		uint64_t sector;
	} hdr;
	const struct virtq_seg *last;
	uint8_t *status;
	uint64_t data_len, bytes = 0;
	struct blk_req *req;
	enum blk_op op;
	int mode = 0;
	uint32_t used_len = 1;

	if (c->read_len < HDR_LEN || c->write_len < 1) {
		/* No header or nowhere to put a status: nothing can be answered. */
		virtq_push(&blk->mmio.queues[0], c->head, 0);
		*pushed = true;
		return REQ_DONE;
	}
	chain_copy(c, false, 0, &hdr, HDR_LEN, false);
	last = &c->segs[c->nsegs - 1];
	status = last->hva + last->len - 1;

	switch (hdr.type) {
	case BLK_T_IN:
		data_len = c->write_len - 1;
		if (data_len % SECTOR || !range_ok(blk, hdr.sector, data_len / SECTOR))
			goto ioerr;
		op = OP_READ;
		bytes = data_len;
		used_len = (uint32_t)MIN(data_len + 1, UINT32_MAX);
		break;
	case BLK_T_OUT:
		data_len = c->read_len - HDR_LEN;
		if (blk->read_only || data_len % SECTOR ||
		    !range_ok(blk, hdr.sector, data_len / SECTOR))
			goto ioerr;
		op = OP_WRITE;
		bytes = data_len;
		break;
	case BLK_T_FLUSH:
		if (blk->cache != CACHE_WRITEBACK) {
			/* Unsafe: nothing promised, nothing to wait for. */
			if (!rate_limiter_consume(&blk->rl, 0))
				return REQ_RETRY_LATER;
			answer(blk, c, status, BLK_S_OK, 1, pushed);
			return REQ_DONE;
		}
		op = OP_FLUSH;
		data_len = 0;
		break;
	case BLK_T_GET_ID: {
		uint64_t n = MIN((uint64_t)BLK_ID_BYTES, c->write_len - 1);

		if (!rate_limiter_consume(&blk->rl, 0))
			return REQ_RETRY_LATER;
		chain_copy(c, true, 0, blk->id, n, true);
		answer(blk, c, status, BLK_S_OK, (uint32_t)n + 1, pushed);
		return REQ_DONE;
	}
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES: {
		struct {
			uint64_t sector;
			uint32_t num_sectors, flags;
		} seg;
		bool zeroes = hdr.type == BLK_T_WRITE_ZEROES;

		if (!virtio_mmio_has_feature(&blk->mmio, zeroes ? BLK_F_WRITE_ZEROES : BLK_F_DISCARD))
			goto unsupp;
		if (blk->read_only)
			goto ioerr;
		/* We advertise one segment per request. */
		if (c->read_len - HDR_LEN != sizeof(seg))
			goto ioerr;
		chain_copy(c, false, HDR_LEN, &seg, sizeof(seg), false);
		if (seg.flags & ~(zeroes ? 1U : 0U))
			goto unsupp;
		if (seg.num_sectors > MAX_DISCARD_SECTORS ||
		    !range_ok(blk, seg.sector, seg.num_sectors))
			goto ioerr;
		hdr.sector = seg.sector;
		data_len = (uint64_t)seg.num_sectors * SECTOR;
		mode = FALLOC_FL_KEEP_SIZE;
		if (zeroes && !(seg.flags & 1) && !blk->no_zero_range)
			mode |= FALLOC_FL_ZERO_RANGE;
		else
			mode |= FALLOC_FL_PUNCH_HOLE;
		op = OP_FALLOC;
		break;
	}
	default:
		goto unsupp;
	}

	req = req_get(blk);
	if (!req) {
		/* A guest reusing heads in flight: the next completion restarts the queue. */
		blk->pool_stalled = true;
		return REQ_RETRY_LATER;
	}
	if (!rate_limiter_consume(&blk->rl, bytes)) {
		req_put(blk, req);
		return REQ_RETRY_LATER;
	}
	req->op = op;
	req->falloc_mode = mode;
	req->head = c->head;
	req->status = status;
	req->used_len = used_len;
	req->off = hdr.sector * SECTOR;
	req->len = data_len;
	req->done = 0;
	req->niov = 0;
	req->iov_first = 0;
	req->iov_at = 0;
	if (op == OP_READ)
		req->niov = chain_iov(c, true, 0, data_len, req->iov);
	else if (op == OP_WRITE)
		req->niov = chain_iov(c, false, HDR_LEN, data_len, req->iov);
	run_req(blk, req, pushed, submit);
	return REQ_DONE;

ioerr:
	answer(blk, c, status, BLK_S_IOERR, 1, pushed);
	return REQ_DONE;
unsupp:
	answer(blk, c, status, BLK_S_UNSUPP, 1, pushed);
	return REQ_DONE;
}

/* A chain the walker refused: where its status byte is cannot be trusted; len 0 says so. */
static void handle_bad(struct virtio_blk *blk, const struct virtq_chain *c, bool *pushed)
{
	virtq_push(&blk->mmio.queues[0], c->head, 0);
	*pushed = true;
}

static bool reap(struct virtio_blk *blk, bool *pushed);

/*
 * Take requests until the ring is empty, throttled, or the fairness budget is spent.
 * True if any chain was taken.
 */
static bool process_queue(struct virtio_blk *blk)
{
	struct virtq *q = &blk->mmio.queues[0];
	bool pushed = false, submit = false, took = false;
	unsigned int budget = 2 * VIRTQ_MAX_SIZE;

	blk->pool_stalled = false;
	/* A vCPU is resetting the device and waits for the ring to empty: take nothing. */
	if (blk->draining)
		return false;
	while (q->active && !(blk->mmio.status & VIRTIO_STATUS_NEEDS_RESET)) {
		int r;

		if (rate_limiter_blocked(&blk->rl))
			break;
		if (budget-- == 0) {
			/* Let other devices run; the loop calls us again. */
			virtio_mmio_kick_self(&blk->mmio, 0);
			break;
		}
		r = virtq_pop(q, &blk->chain);
		if (r == 0) {
			if (virtq_enable_notify(q))
				continue;
			break;
		}
		if (r == -EPROTO) {
			virtio_mmio_needs_reset(&blk->mmio);
			break;
		}
		if (r < 0) {
			log_debug("virtio-blk: malformed chain at head %u", blk->chain.head);
			handle_bad(blk, &blk->chain, &pushed);
			took = true;
			continue;
		}
		if (handle(blk, &blk->chain, &pushed, &submit) == REQ_RETRY_LATER) {
			virtq_unpop(q);
			break;
		}
		took = true;
	}
	if (submit) {
		io_uring_submit(&blk->ring);
		/*
		 * Page-cache hits complete inside the submit: answer them now, with the
		 * batch's one interrupt, instead of a loop round trip later.
		 */
		if (reap(blk, &pushed) && blk->pool_stalled)
			virtio_mmio_kick_self(&blk->mmio, 0);
	}
	if (pushed)
		signal_used(blk);
	return took;
}

static void poll_begin_locked(struct virtio_blk *blk);

static void queue_notify(struct virtio_mmio_dev *vdev, unsigned int qidx)
{
	struct virtio_blk *blk = to_blk(vdev);

	blk->busy_ns = util_now_ns(); /* the loop's thread (kick_event) */
	/* Kicks off while this batch is served: the next one, posted as soon as this one's
	   completions are seen, is found by polling instead (ring_event does the same for
	   completions that come later). */
	if (ev_poller_start(blk->mmio.env.loop, &blk->poller))
		poll_begin_locked(blk);
	process_queue(blk);
}

/*
 * Consume every completion waiting (lock held); true when a request slot came free.
 * Bounded by the CQ size: each CQE is consumed once, and resubmissions are only
 * submitted after the loop.
 */
static bool reap(struct virtio_blk *blk, bool *pushed)
{
	struct io_uring_cqe *cqe;
	bool resubmit = false, freed = false;

	/*
	 * Only CQEs already posted: on an empty CQ liburing's peek would enter the kernel
	 * for a defer ring's flagged work, a few at a time; ring_service asks for it whole.
	 */
	while (blk->ring_ready && io_uring_cq_ready(&blk->ring) &&
	       io_uring_peek_cqe(&blk->ring, &cqe) == 0) {
		struct blk_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&blk->ring, cqe);
		if (!req || !req->in_use)
			continue;
		blk->inflight--;
		if (blk->draining) {
			/* Reset under way: the guest gets nothing back. */
			req_put(blk, req);
			freed = true;
			continue;
		}
		if (finish_pass(blk, req, res, pushed)) {
			freed = true;
			continue;
		}
		blk->inflight++;
		if (prep_async(blk, req)) {
			resubmit = true;
		} else {
			blk->inflight--;
			complete(blk, req, BLK_S_IOERR, pushed);
		}
	}
	if (resubmit)
		io_uring_submit(&blk->ring);
	return freed;
}

/*
 * A defer ring runs at most a bounded batch of deferred work per request (Linux 6.13+:
 * the rest waits on a retry list), and its eventfd only fires again for new work on an
 * empty list or new CQEs: if work is left, come back through the loop.
 */
static void defer_recheck(struct virtio_blk *blk)
{
	struct pollfd p = { .fd = blk->ring.ring_fd, .events = POLLIN };

	blk->defer_left = poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
	if (blk->defer_left && eventfd_write(blk->ring_efd, 1) < 0)
		log_warn("virtio-blk: eventfd write: %s", strerror(errno));
}

/*
 * io_uring completions (VMM thread, lock held). A defer ring posts its CQEs only when its
 * owner asks (io_uring_get_events); the other kinds have them posted already.
 */
static void ring_service(struct virtio_blk *blk)
{
	bool pushed = false, freed;

	if (!blk->ring_ready)
		return;
	if (blk->draining && !blk->drain_cancel_sent) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&blk->ring);

		/* What has not started yet need not run: the waiting reset ends sooner. */
		if (sqe) {
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			io_uring_sqe_set_data(sqe, NULL);
			io_uring_submit(&blk->ring);
		}
		blk->drain_cancel_sent = true;
	}
	/*
	 * A defer ring: run the completions waiting as deferred work, all at once, when the
	 * kernel flags new work (TASKRUN_FLAG) or the last run left some. The eventfd also
	 * fires for the CQEs this thread posts itself while submitting (page-cache hits):
	 * such a wake-up costs no system call.
	 */
	if (blk->defer && (blk->defer_left || blk->draining ||
			   (IO_URING_READ_ONCE(*blk->ring.sq.kflags) & IORING_SQ_TASKRUN))) {
		io_uring_get_events(&blk->ring);
		freed = reap(blk, &pushed);
		defer_recheck(blk);
	} else {
		/* A COOP ring's flagged task work (the poller makes no system call to run it). */
		if (!blk->defer && (IO_URING_READ_ONCE(*blk->ring.sq.kflags) & IORING_SQ_TASKRUN))
			io_uring_get_events(&blk->ring);
		freed = reap(blk, &pushed);
	}
	if (blk->draining) {
		if (!blk->inflight)
			pthread_cond_broadcast(&blk->drained);
		return;
	}
	if (pushed)
		signal_used(blk);
	/*
	 * Only a full request pool stops the queue with work left (the rate limiter has its
	 * own timer): otherwise a completion has nothing to restart.
	 */
	if (freed && blk->pool_stalled && blk->mmio.activated)
		process_queue(blk);
}

/* ---- adaptive polling (struct ev_poller; the loop's thread, like the handlers) ---- */

/* The queue is running (lock held). */
static bool blk_live(struct virtio_blk *blk)
{
	return blk->mmio.activated && !blk->mmio.activate_pending &&
	       !(blk->mmio.status & VIRTIO_STATUS_NEEDS_RESET) && blk->mmio.queues[0].active;
}

/*
 * Completions the loop has not taken yet: CQEs posted, or task work the kernel flags
 * (TASKRUN_FLAG on both ring kinds: a polling thread makes no system call that would
 * run it), or deferred work a bounded run left. Only the loop's thread changes what this
 * reads, so it needs no lock there.
 */
static bool ring_has_work(struct virtio_blk *blk)
{
	if (!blk->ring_ready)
		return false;
	return io_uring_cq_ready(&blk->ring) > 0 || blk->defer_left ||
	       (IO_URING_READ_ONCE(*blk->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/* A drive idle this long is not polled: its next request comes with a kick. */
static uint64_t poll_idle_ns = 1000000;

void virtio_blk_set_poll_idle_ns(uint64_t ns)
{
	poll_idle_ns = ns;
}

static bool blk_poll_active(void *opaque)
{
	struct virtio_blk *blk = opaque;

	/* busy_ns and poll_avail are only ever set on the loop's thread. */
	return util_now_ns() - blk->busy_ns <= poll_idle_ns;
}

/*
 * Work a window should take the lock for: the avail index moved from what the last
 * look left behind (through the ring pointer begin() saw: guest RAM stays mapped, so
 * it is safe to read even after a reset), or the ring has completions or task work.
 * Looked at without the lock, so that a vCPU waiting for it gets it.
 */
static bool blk_poll_peek(struct virtio_blk *blk)
{
	if (blk->poll_avail &&
	    __atomic_load_n(blk->poll_avail, __ATOMIC_ACQUIRE) != blk->poll_avail_seen)
		return true;
	return ring_has_work(blk);
}

static bool blk_poll(void *opaque)
{
	struct virtio_blk *blk = opaque;
	struct virtq *q = &blk->mmio.queues[0];
	bool found = false;

	if (!blk_poll_peek(blk) || pthread_mutex_trylock(&blk->mmio.lock))
		return false;
	if (ring_has_work(blk)) {
		ring_service(blk);
		found = true;
	}
	if (blk_live(blk) && virtq_has_avail(q))
		found |= process_queue(blk);
	/* What is left (throttled, or the queue went away) does not call for the lock. */
	if (blk->poll_avail)
		blk->poll_avail_seen = __atomic_load_n(blk->poll_avail, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&blk->mmio.lock);
	if (found)
		blk->busy_ns = util_now_ns();
	return found;
}

/* Lock held. Again during a spell: the rings may have moved with a reset since. */
static void poll_begin_locked(struct virtio_blk *blk)
{
	struct virtq *q = &blk->mmio.queues[0];

	if (!blk_live(blk))
		return;
	virtq_suppress_notify(q);
	blk->poll_avail = &q->avail[1];
	/* Entries already there count as new: the first look takes them. */
	blk->poll_avail_seen = q->last_avail;
}

static void blk_poll_begin(void *opaque)
{
	struct virtio_blk *blk = opaque;

	blk->poll_avail = NULL;
	/* A vCPU at the device (a reset, say): this spell leaves the drive alone. */
	if (pthread_mutex_trylock(&blk->mmio.lock))
		return;
	poll_begin_locked(blk);
	pthread_mutex_unlock(&blk->mmio.lock);
}

static bool blk_poll_end(void *opaque)
{
	struct virtio_blk *blk = opaque;
	struct virtq *q = &blk->mmio.queues[0];
	bool found = false;

	blk->poll_avail = NULL;
	pthread_mutex_lock(&blk->mmio.lock);
	/* A reset in between cleared notify_off with the rest of the queue; a begin() that
	   found the lock taken set nothing. */
	if (q->notify_off && virtq_resume_notify(q) && blk_live(blk))
		found = process_queue(blk);
	pthread_mutex_unlock(&blk->mmio.lock);
	return found;
}

static void ring_event(void *opaque, uint32_t events)
{
	struct virtio_blk *blk = opaque;

	blk->busy_ns = util_now_ns();
	pthread_mutex_lock(&blk->mmio.lock);
	/* Completions the guest is about to see: its next batch may follow at once. */
	if (ev_poller_start(blk->mmio.env.loop, &blk->poller))
		poll_begin_locked(blk);
	ring_service(blk);
	pthread_mutex_unlock(&blk->mmio.lock);
}

/*
 * drain() on a thread that may not enter a defer ring (a vCPU resetting the device):
 * the VMM thread reaps, dropping the results, while this thread waits with the device
 * lock released. Reaping cannot be left undone: an unfinished read would still land in
 * memory the guest reuses after the reset. Given up only when the VM stops.
 */
static void drain_from_other_thread(struct virtio_blk *blk)
{
	uint64_t t0 = util_now_ns(), next_log = t0 + 5000000000ULL;

	blk->draining++;
	/* The ring's eventfd: the loop runs ring_event, which cancels and reaps. */
	if (eventfd_write(blk->ring_efd, 1) < 0)
		log_warn("virtio-blk: eventfd write: %s", strerror(errno));
	while (blk->inflight && !blk->stopping) {
		struct timespec ts;
		uint64_t now;

		util_deadline(CLOCK_MONOTONIC, 50 * 1000000ULL, &ts);
		pthread_cond_timedwait(&blk->drained, &blk->mmio.lock, &ts);
		now = util_now_ns();
		if (blk->inflight && now >= next_log) {
			log_warn("virtio-blk: reset still waiting for %u requests after %llu ms",
				 blk->inflight, (unsigned long long)((now - t0) / 1000000));
			next_log = now + 5000000000ULL;
		}
	}
	if (blk->inflight)
		log_warn("virtio-blk: the VM is stopping: %u requests left for the final drain",
			 blk->inflight);
	if (--blk->draining == 0)
		blk->drain_cancel_sent = false;
}

/*
 * Wait until nothing is in flight (lock held). Requests already started on a regular
 * file cannot be cancelled, only waited for; the cancel gets the rest out early.
 * to_guest false (reset, destroy): completions write nothing to guest memory. to_guest
 * true (backing file swapped under a running driver): each request gets its status and
 * used entry (cancelled or short ones an I/O error), or the driver would wait forever.
 */
static void drain(struct virtio_blk *blk, bool to_guest)
{
	struct io_uring_sqe *sqe;
	uint64_t t0 = util_now_ns();
	bool pushed = false;

	if (!blk->ring_ready || !blk->inflight)
		goto out;
	if (blk->defer && !pthread_equal(pthread_self(), blk->ring_owner)) {
		drain_from_other_thread(blk);
		/*
		 * Given up (the VM stops): the kernel still owns those requests, so they stay
		 * counted and their slots taken; virtio_blk_destroy, on the VMM thread, waits
		 * for them before guest memory goes.
		 */
		if (blk->inflight)
			return;
		goto out;
	}
	sqe = to_guest ? NULL : io_uring_get_sqe(&blk->ring); /* the guest wants real results */
	if (sqe) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
		io_uring_sqe_set_data(sqe, NULL);
	}
	io_uring_submit(&blk->ring);
	while (blk->inflight) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_sec = 5 };
		int r = io_uring_wait_cqe_timeout(&blk->ring, &cqe, &ts);
		struct blk_req *req;
		int res;

		if (r == -ETIME || r == -EINTR) {
			log_warn("virtio-blk: still waiting for %u requests after %llu ms",
				 blk->inflight, (unsigned long long)((util_now_ns() - t0) / 1000000));
			continue;
		}
		if (r < 0) {
			/* The ring is unusable: requests can no longer complete either. */
			log_error("virtio-blk: io_uring wait: %s", strerror(-r));
			break;
		}
		req = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&blk->ring, cqe);
		if (!req || !req->in_use)
			continue;
		blk->inflight--;
		if (!to_guest) {
			req_put(blk, req);
			continue;
		}
		/* No resubmission (it would name the old file): unfinished is an error. */
		if (res < 0 || ((req->op == OP_READ || req->op == OP_WRITE) &&
				req->done + (uint64_t)res < req->len))
			complete(blk, req, BLK_S_IOERR, &pushed);
		else
			complete(blk, req, BLK_S_OK, &pushed);
	}
out:
	blk->inflight = 0;
	if (pushed)
		signal_used(blk);
	req_reset_all(blk);
	/* A vCPU's reset waiting meanwhile (the VMM thread drained for an update). */
	if (blk->draining)
		pthread_cond_broadcast(&blk->drained);
}

static void rl_event(void *opaque, uint32_t events)
{
	struct virtio_blk *blk = opaque;

	pthread_mutex_lock(&blk->mmio.lock);
	rate_limiter_timer_event(&blk->rl);
	if (blk->mmio.activated)
		process_queue(blk);
	pthread_mutex_unlock(&blk->mmio.lock);
}

/* ---- transport callbacks ---- */

static uint64_t blk_features(struct virtio_mmio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_INDIRECT_DESC) |
		     (1ULL << VIRTIO_F_RING_EVENT_IDX) | (1ULL << BLK_F_SEG_MAX) |
		     (1ULL << BLK_F_BLK_SIZE);

	if (blk->read_only)
		f |= 1ULL << BLK_F_RO;
	if (blk->cache == CACHE_WRITEBACK)
		f |= 1ULL << BLK_F_FLUSH;
	if (blk->can_punch && !blk->read_only)
		f |= (1ULL << BLK_F_DISCARD) | (1ULL << BLK_F_WRITE_ZEROES);
	return f;
}

static void blk_config_read(struct virtio_mmio_dev *vdev, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	memcpy(data, (const uint8_t *)&to_blk(vdev)->config + off, len);
}

static int blk_activate(struct virtio_mmio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	uint64_t t0;
	int r;

	if (blk->engine != IO_ENGINE_ASYNC || blk->ring_ready)
		return 0;
	/*
	 * The ring outlives resets: its setup cost is paid once per device.
	 * io-wq runs every buffered write on ext4 (which cannot write without blocking) and
	 * hands the completion back to the submitter, this thread, as task work.
	 * DEFER_TASKRUN (with SINGLE_ISSUER; Linux 6.1) keeps that work until this thread
	 * asks for it, so a batch of writes is reaped in one go; the VMM sets
	 * virtio_blk_set_loop_pinned() because only this thread may then enter the ring
	 * (a reset on a vCPU thread waits for it: drain_from_other_thread). Otherwise
	 * COOP_TASKRUN (5.19): the work waits for this thread's next system call instead of
	 * an IPI per write while it runs. A sleeping thread is woken either way; kernels
	 * refusing a flag get the next one down.
	 */
	t0 = util_now_ns();
	r = -EINVAL;
	if (loop_pinned) {
		r = io_uring_queue_init(VIRTQ_MAX_SIZE, &blk->ring,
					IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
						IORING_SETUP_TASKRUN_FLAG);
		if (r == 0) {
			blk->ring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (blk->ring_efd < 0 ||
			    io_uring_register_eventfd(&blk->ring, blk->ring_efd) < 0) {
				if (blk->ring_efd >= 0)
					close(blk->ring_efd);
				blk->ring_efd = -1;
				io_uring_queue_exit(&blk->ring);
				r = -EINVAL;
			} else {
				blk->defer = true;
				blk->ring_owner = pthread_self();
			}
		}
	}
	if (r == -EINVAL)
		r = io_uring_queue_init(VIRTQ_MAX_SIZE, &blk->ring,
					IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
	if (r == -EINVAL)
		r = io_uring_queue_init(VIRTQ_MAX_SIZE, &blk->ring, 0);
	if (r < 0) {
		log_warn("virtio-blk: io_uring unavailable (%s), using the Sync engine",
			 strerror(-r));
		blk->engine = IO_ENGINE_SYNC;
		return 0;
	}
	/*
	 * Edge-triggered and never read: every eventfd write is a new edge, and a defer
	 * ring signals it for each batch of completions it holds.
	 */
	if (blk->defer)
		blk->ring_src = (struct ev_source){ .fd = blk->ring_efd, .fn = ring_event,
						    .opaque = blk };
	else
		blk->ring_src = (struct ev_source){ .fd = blk->ring.ring_fd, .fn = ring_event,
						    .opaque = blk };
	r = ev_add(blk->mmio.env.loop, &blk->ring_src, blk->defer ? EPOLLIN | EPOLLET : EPOLLIN);
	if (r < 0)
		goto fail;
	blk->ring_on_loop = true;
	blk->ring_ready = true;
	blk->activation_ns = util_now_ns() - t0;
	log_info("virtio-blk %.20s: io_uring ready in %llu us (%s)", blk->id,
		 (unsigned long long)(blk->activation_ns / 1000),
		 blk->defer	 ? "DEFER_TASKRUN"
		 : loop_pinned ? "this kernel refuses DEFER_TASKRUN"
			       : "loop not pinned: no DEFER_TASKRUN");
	return 0;
fail:
	io_uring_queue_exit(&blk->ring);
	if (blk->ring_efd >= 0)
		close(blk->ring_efd);
	blk->ring_efd = -1;
	blk->defer = false;
	log_error("virtio-blk: io_uring setup: %s", strerror(-r));
	return r;
}

static void blk_reset(struct virtio_mmio_dev *vdev)
{
	drain(to_blk(vdev), false);
}

static const struct virtio_dev_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.features = blk_features,
	.config_len = sizeof(struct blk_config),
	.config_read = blk_config_read,
	.activate = blk_activate,
	.reset = blk_reset,
	.queue_notify = queue_notify,
};

/* ---- lifecycle ---- */

int virtio_blk_create(struct virtio_blk **out, const struct drive_cfg *cfg,
		      const struct virtio_mmio_env *env, uint64_t mmio_base, struct config_err *err)
{
	struct virtio_blk *blk;
	int r;

	if (!cfg->path_on_host) {
		config_err_set(err, "drives.%s.path_on_host: missing", cfg->drive_id);
		return -EINVAL;
	}
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->fd = -1;
	blk->rl.timerfd = -1;
	blk->ring_efd = -1;
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&blk->drained, &ca);
		pthread_condattr_destroy(&ca);
	}
	blk->read_only = cfg->is_read_only;
	blk->cache = cfg->cache_type;
	blk->engine = cfg->io_engine;
	/* The serial is the drive id, cut or zero-padded to 20 bytes (5.2.6). */
	memcpy(blk->id, cfg->drive_id, MIN(strnlen(cfg->drive_id, sizeof(cfg->drive_id)), sizeof(blk->id)));
	blk->reqs = calloc(VIRTQ_MAX_SIZE, sizeof(*blk->reqs));
	if (!blk->reqs) {
		r = -ENOMEM;
		goto fail;
	}
	req_reset_all(blk);
	r = open_backing(cfg->path_on_host, blk->read_only, &blk->fd, &blk->capacity,
			 &blk->can_punch);
	if (r < 0) {
		config_err_set(err, "drives.path_on_host: %s: %s", cfg->path_on_host, strerror(-r));
		goto fail;
	}
	fill_config(blk);
	r = rate_limiter_init(&blk->rl, &cfg->rate_limiter);
	if (r < 0)
		goto fail;
	blk->rl_src = (struct ev_source){ .fd = rate_limiter_fd(&blk->rl), .fn = rl_event,
					  .opaque = blk };
	r = ev_add(env->loop, &blk->rl_src, EPOLLIN);
	if (r < 0)
		goto fail;
	blk->rl_on_loop = true;
	r = virtio_mmio_init(&blk->mmio, &blk_ops, blk, env, mmio_base);
	if (r < 0) {
		ev_del(env->loop, &blk->rl_src);
		blk->rl_on_loop = false;
		goto fail;
	}
	blk->poller = (struct ev_poller){ .active = blk_poll_active, .poll = blk_poll,
					  .begin = blk_poll_begin, .end = blk_poll_end,
					  .opaque = blk };
	ev_poller_add(env->loop, &blk->poller);
	*out = blk;
	return 0;
fail:
	if (err && !err->msg[0])
		config_err_set(err, "drives.%s: %s", cfg->drive_id, strerror(-r));
	rate_limiter_destroy(&blk->rl);
	if (blk->fd >= 0)
		close(blk->fd);
	pthread_cond_destroy(&blk->drained);
	free(blk->reqs);
	free(blk);
	return r;
}

struct virtio_mmio_dev *virtio_blk_mmio(struct virtio_blk *blk)
{
	return &blk->mmio;
}

int virtio_blk_update(struct virtio_blk *blk, const char *path_on_host,
		      const struct rate_limiter_cfg *rl, struct config_err *err)
{
	int fd = -1;
	uint64_t sectors = 0;
	bool punch = false;
	int r;

	if (path_on_host) {
		r = open_backing(path_on_host, blk->read_only, &fd, &sectors, &punch);
		if (r < 0) {
			config_err_set(err, "drives.path_on_host: %s: %s", path_on_host, strerror(-r));
			return r;
		}
	}
	pthread_mutex_lock(&blk->mmio.lock);
	if (fd >= 0) {
		bool resized = sectors != blk->capacity;

		/* Requests in flight name the old fd and the old size: finish them first. */
		/* Mid-reset (a vCPU waits in drain_from_other_thread), the guest gets nothing. */
		drain(blk, blk->mmio.activated && !blk->draining);
		close(blk->fd);
		blk->fd = fd;
		blk->capacity = sectors;
		blk->can_punch = punch; /* offered from the next reset on */
		blk->no_zero_range = false;
		blk->config.capacity = sectors;
		if (resized)
			virtio_mmio_config_changed(&blk->mmio);
	}
	if (rl)
		rate_limiter_update(&blk->rl, rl);
	if (blk->mmio.activated)
		virtio_mmio_kick_self(&blk->mmio, 0);
	pthread_mutex_unlock(&blk->mmio.lock);
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	struct event_loop *loop;

	if (!blk)
		return;
	loop = blk->mmio.env.loop;
	ev_poller_del(loop, &blk->poller);
	pthread_mutex_lock(&blk->mmio.lock);
	drain(blk, false);
	pthread_mutex_unlock(&blk->mmio.lock);
	if (blk->ring_on_loop)
		ev_del(loop, &blk->ring_src);
	if (blk->rl_on_loop)
		ev_del(loop, &blk->rl_src);
	if (blk->ring_ready)
		io_uring_queue_exit(&blk->ring);
	if (blk->ring_efd >= 0)
		close(blk->ring_efd);
	pthread_cond_destroy(&blk->drained);
	rate_limiter_destroy(&blk->rl);
	virtio_mmio_uninit(&blk->mmio);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->reqs);
	free(blk);
}

void virtio_blk_serve_reset(struct virtio_blk *blk)
{
	if (!blk)
		return;
	pthread_mutex_lock(&blk->mmio.lock);
	if (blk->draining)
		ring_service(blk);
	pthread_mutex_unlock(&blk->mmio.lock);
}

void virtio_blk_stop_waiters(struct virtio_blk *blk)
{
	if (!blk)
		return;
	pthread_mutex_lock(&blk->mmio.lock);
	blk->stopping = true;
	pthread_cond_broadcast(&blk->drained);
	pthread_mutex_unlock(&blk->mmio.lock);
}

bool virtio_blk_defer_taskrun(const struct virtio_blk *blk)
{
	return blk->defer;
}

uint64_t virtio_blk_activation_ns(const struct virtio_blk *blk)
{
	return blk->activation_ns;
}

unsigned int virtio_blk_inflight(const struct virtio_blk *blk)
{
	return blk->inflight;
}
