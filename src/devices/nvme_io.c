/* NVMe namespace 1 over a block backend: the NVM command set's Read, Write,
 * Flush, Write Zeroes and Dataset Management (deallocate) (NVMe 1.4, 6).
 *
 * Data moves through the request's bounce buffer: a write gathers guest
 * pages into it before the backend sees the request, a read scatters it to
 * the guest in the completion. A transfer the DMA API stops short ends the
 * command with Data Transfer Error. */
#include "devices/nvme_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Checks ---- */

static uint64_t nvme_rw_slba(const struct nvme_sqe *cmd)
{
	return cmd->cdw10 | (uint64_t)cmd->cdw11 << 32;
}

/* 0, or LBA Out of Range when [slba, slba + nlb) is not all inside the namespace. */
static uint16_t nvme_check_range(struct nvme_ctrl *c, uint64_t slba, uint64_t nlb)
{
	if (slba >= c->nsze || nlb > c->nsze - slba) {
		guest_error("nvme %s: LBA range %llu+%llu beyond the namespace's %llu blocks", c->name,
			    (unsigned long long)slba, (unsigned long long)nlb,
			    (unsigned long long)c->nsze);
		return NVME_SC_LBA_RANGE | NVME_SC_DNR;
	}
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_backend_status(struct nvme_ctrl *c, enum blk_op op, int result)
{
	if (!result)
		return NVME_SC_SUCCESS;
	c->stats.backend_errors++;
	switch (result) {
	case -EIO:
		c->media_errors++;
		return op == BLK_READ ? NVME_SC_READ_ERROR : NVME_SC_WRITE_FAULT;
	case -EROFS:
		return NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR;
	default:
		return NVME_SC_INTERNAL;
	}
}

/* ---- Completion from the backend ---- */

static void nvme_dsm_put(struct nvme_ctrl *c, struct nvme_req *r);

static void nvme_io_done(struct blk_req *b)
{
	struct nvme_req *r = b->opaque;
	struct nvme_ctrl *c = r->ctrl;
	uint16_t status;

	c->blk_inflight--;
	if (r->subs) {
		/* Deallocation is advisory: a backend without it is no error. */
		if (b->result && b->result != -EOPNOTSUPP && !r->subs_result)
			r->subs_result = b->result;
		nvme_dsm_put(c, r);
		return;
	}
	if (c->dropping) {
		nvme_req_complete(c, r, NVME_SC_ABORT_REQ, 0);
		return;
	}
	status = nvme_backend_status(c, b->op, b->result);
	switch (b->op) {
	case BLK_READ:
		if (!status)
			status = nvme_req_to_guest(c, r);
		if (!status) {
			c->stats.bytes_read += r->len;
			c->host_reads++;
		}
		break;
	case BLK_WRITE:
		if (!status) {
			c->stats.bytes_written += r->len;
			c->host_writes++;
		}
		if (!status && r->fua) {
			/* Force Unit Access: durable before completion. */
			r->fua = false;
			*b = (struct blk_req){ .op = BLK_FLUSH, .done = nvme_io_done };
			status = nvme_blk_submit(c, r, b);
			if (!status)
				return;
		}
		break;
	default:
		break;
	}
	nvme_req_complete(c, r, status, 0);
}

static void nvme_io_submit(struct nvme_ctrl *c, struct nvme_req *r, enum blk_op op,
			   uint64_t offset, uint64_t len)
{
	uint16_t status;

	r->blk = (struct blk_req){ .op = op, .offset = offset, .len = len, .done = nvme_io_done };
	if (op == BLK_READ || op == BLK_WRITE) {
		r->iov = (struct iovec){ .iov_base = r->buf, .iov_len = len };
		r->blk.iov = &r->iov;
		r->blk.iovcnt = 1;
	}
	status = nvme_blk_submit(c, r, &r->blk);
	if (status)
		nvme_req_complete(c, r, status, 0);
}

/* ---- Commands ---- */

static void nvme_io_rw(struct nvme_ctrl *c, struct nvme_req *r, bool write)
{
	const struct nvme_sqe *cmd = &r->cmd;
	uint64_t slba = nvme_rw_slba(cmd);
	uint64_t nlb = (uint64_t)(cmd->cdw12 & NVME_RW_NLB_MASK) + 1;
	uint64_t bytes = nlb << c->lba_shift;
	uint16_t status;

	if (cmd->nsid != NVME_NSID) {
		status = NVME_SC_INVALID_NS | NVME_SC_DNR;
		goto fail;
	}
	if (bytes > NVME_MAX_XFER) {
		guest_error("nvme %s: %s of %llu bytes exceeds MDTS (%u bytes)", c->name,
			    write ? "write" : "read", (unsigned long long)bytes, NVME_MAX_XFER);
		status = NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		goto fail;
	}
	status = nvme_check_range(c, slba, nlb);
	if (status)
		goto fail;
	if (write && c->blk->read_only) {
		status = NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR;
		goto fail;
	}
	status = nvme_req_map(c, r, (uint32_t)bytes);
	if (status)
		goto fail;
	if (write) {
		status = nvme_req_from_guest(c, r);
		if (status)
			goto fail;
		r->fua = cmd->cdw12 & NVME_RW_FUA;
	}
	nvme_io_submit(c, r, write ? BLK_WRITE : BLK_READ, slba << c->lba_shift, bytes);
	return;
fail:
	nvme_req_complete(c, r, status, 0);
}

static void nvme_io_flush(struct nvme_ctrl *c, struct nvme_req *r)
{
	if (r->cmd.nsid != NVME_NSID && r->cmd.nsid != NVME_NSID_ALL) {
		nvme_req_complete(c, r, NVME_SC_INVALID_NS | NVME_SC_DNR, 0);
		return;
	}
	nvme_io_submit(c, r, BLK_FLUSH, 0, 0);
}

/* Not bounded by MDTS (no data moves); NLB is 16 bits, so at most 64 Ki blocks. */
static void nvme_io_write_zeroes(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint64_t slba = nvme_rw_slba(&r->cmd);
	uint64_t nlb = (uint64_t)(r->cmd.cdw12 & NVME_RW_NLB_MASK) + 1;
	uint16_t status;

	if (r->cmd.nsid != NVME_NSID) {
		status = NVME_SC_INVALID_NS | NVME_SC_DNR;
		goto fail;
	}
	status = nvme_check_range(c, slba, nlb);
	if (status)
		goto fail;
	if (c->blk->read_only) {
		status = NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR;
		goto fail;
	}
	nvme_io_submit(c, r, BLK_WRITE_ZEROES, slba << c->lba_shift, nlb << c->lba_shift);
	return;
fail:
	nvme_req_complete(c, r, status, 0);
}

/* Drops one reference of a Dataset Management command (its submitter holds
 * one while submitting, each range one while on the backend). */
static void nvme_dsm_put(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint16_t status;

	if (--r->subs_pending)
		return;
	status = r->subs_result ? nvme_backend_status(c, BLK_DISCARD, r->subs_result) : 0;
	nvme_req_complete(c, r, status, 0);
}

static void nvme_io_dsm(struct nvme_ctrl *c, struct nvme_req *r)
{
	unsigned nr = (r->cmd.cdw10 & 0xff) + 1, i;
	uint16_t status;

	if (r->cmd.nsid != NVME_NSID) {
		status = NVME_SC_INVALID_NS | NVME_SC_DNR;
		goto complete;
	}
	/* Only deallocation does anything; the integral read/write hints are
	 * advice a RAM or file backend has no use for. */
	if (!(r->cmd.cdw11 & NVME_DSM_AD)) {
		status = NVME_SC_SUCCESS;
		goto complete;
	}
	if (c->blk->read_only) {
		status = NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR;
		goto complete;
	}
	status = nvme_req_map(c, r, nr * NVME_DSM_RANGE_SIZE);
	if (!status)
		status = nvme_req_from_guest(c, r);
	if (status)
		goto complete;
	for (i = 0; i < nr; i++) {
		const uint8_t *e = r->buf + i * NVME_DSM_RANGE_SIZE;
		uint32_t nlb;
		uint64_t slba;

		memcpy(&nlb, e + 4, sizeof(nlb));
		memcpy(&slba, e + 8, sizeof(slba));
		status = nlb ? nvme_check_range(c, slba, nlb) : NVME_SC_SUCCESS;
		if (status)
			goto complete;
	}
	r->subs = calloc(nr, sizeof(*r->subs));
	if (!r->subs) {
		status = NVME_SC_INTERNAL;
		goto complete;
	}
	r->subs_pending = 1;
	for (i = 0; i < nr; i++) {
		const uint8_t *e = r->buf + i * NVME_DSM_RANGE_SIZE;
		uint32_t nlb;
		uint64_t slba;

		memcpy(&nlb, e + 4, sizeof(nlb));
		memcpy(&slba, e + 8, sizeof(slba));
		if (!nlb)
			continue;
		r->subs[i] = (struct blk_req){ .op = BLK_DISCARD, .offset = slba << c->lba_shift,
					       .len = (uint64_t)nlb << c->lba_shift,
					       .done = nvme_io_done };
		r->subs_pending++;
		status = nvme_blk_submit(c, r, &r->subs[i]);
		if (status) {
			r->subs_pending--;
			r->subs_result = -EIO;
			break;
		}
	}
	nvme_dsm_put(c, r);
	return;
complete:
	nvme_req_complete(c, r, status, 0);
}

void nvme_io_execute(struct nvme_ctrl *c, struct nvme_req *r)
{
	const struct nvme_sqe *cmd = &r->cmd;

	c->stats.io_cmds[cmd->opcode]++;
	if (cmd->flags & (NVME_SQE_FUSE_MASK | NVME_SQE_PSDT_MASK)) {
		guest_error("nvme %s: sq %u cid %u: fused operations and SGLs are not supported",
			    c->name, r->sqid, cmd->cid);
		nvme_req_complete(c, r, NVME_SC_INVALID_FIELD | NVME_SC_DNR, 0);
		return;
	}
	switch (cmd->opcode) {
	case NVME_CMD_READ:
		nvme_io_rw(c, r, false);
		break;
	case NVME_CMD_WRITE:
		nvme_io_rw(c, r, true);
		break;
	case NVME_CMD_FLUSH:
		nvme_io_flush(c, r);
		break;
	case NVME_CMD_WRITE_ZEROES:
		nvme_io_write_zeroes(c, r);
		break;
	case NVME_CMD_DSM:
		nvme_io_dsm(c, r);
		break;
	default:
		guest_error("nvme %s: sq %u cid %u: invalid I/O opcode 0x%02x", c->name, r->sqid,
			    cmd->cid, cmd->opcode);
		nvme_req_complete(c, r, NVME_SC_INVALID_OPCODE | NVME_SC_DNR, 0);
		break;
	}
}
