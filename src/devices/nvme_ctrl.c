/* NVMe controller: the register page, the enable/reset/shutdown state
 * machine (NVMe 1.4, 3.1 and 7.6) and the admin command set (5): Identify,
 * queue creation and deletion, features, log pages, asynchronous events and
 * Abort. Queues and data movement are nvme_queue.c's; the namespace's I/O is
 * nvme_io.c's. */
#include "devices/nvme_internal.h"
#include "base/log.h"
#include "base/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Identity and constants ---- */
#define NVME_MODEL              "Warden NVMe Controller"
#define NVME_FIRMWARE           "1.0"
#define NVME_SUBNQN_PREFIX      "nqn.2024-01.org.warden:nvme:"
#define NVME_CAP_TO             15         /* 7.5 s: ready transitions are immediate here */
#define NVME_TEMP_COMPOSITE     308        /* Kelvin, as reported */
#define NVME_TEMP_WCTEMP        343        /* warning composite threshold */
#define NVME_TEMP_CCTEMP        358        /* critical composite threshold */
#define NVME_PSD0_MAX_POWER     2500       /* centiwatts */

/* ---- Helpers shared by the controller files ---- */

void nvme_fatal(struct nvme_ctrl *c, const char *why)
{
	if (c->fatal)
		return;
	c->fatal = true;
	c->csts |= NVME_CSTS_CFS;
	c->stats.fatal++;
	guest_error("nvme %s: controller fatal status (CSTS.CFS): %s", c->name, why);
}

void nvme_error_log_add(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status,
			uint64_t lba, uint32_t nsid)
{
	uint8_t *e = c->errlog[c->errlog_next];

	c->errlog_next = (c->errlog_next + 1) % NVME_ERROR_LOG_ENTRIES;
	memset(e, 0, NVME_ERROR_LOG_ENTRY_SIZE);
	nvme_put64(e + 0, ++c->error_count);
	nvme_put16(e + 8, sqid);
	nvme_put16(e + 10, cid);
	nvme_put16(e + 12, (uint16_t)(status << 1));
	nvme_put16(e + 14, 0xffff);         /* parameter error location: not reported */
	nvme_put64(e + 16, lba);
	nvme_put32(e + 24, nsid);
}

/* Completes the oldest outstanding Asynchronous Event Request; false when
 * none is outstanding. */
static bool nvme_async_event(struct nvme_ctrl *c, uint8_t type, uint8_t info, uint8_t lid)
{
	uint16_t cid;

	if (!c->aer_count || !c->cq[0].valid)
		return false;
	cid = c->aer_cid[0];
	memmove(c->aer_cid, c->aer_cid + 1, (--c->aer_count) * sizeof(c->aer_cid[0]));
	c->stats.async_events++;
	nvme_post_cqe(c, 0, 0, cid, NVME_SC_SUCCESS,
		      (uint32_t)type | (uint32_t)info << 8 | (uint32_t)lid << 16);
	return true;
}

void nvme_invalid_doorbell(struct nvme_ctrl *c, uint8_t info)
{
	nvme_error_log_add(c, 0xffff, 0xffff, 0, 0, 0);
	if (!nvme_async_event(c, NVME_AER_TYPE_ERROR, info, NVME_LOG_ERROR))
		nvme_fatal(c, "invalid doorbell write and no Asynchronous Event Request outstanding");
}

static void nvme_put_ascii(uint8_t *dst, const char *src, size_t width)
{
	size_t i, n = strlen(src);

	for (i = 0; i < width; i++)
		dst[i] = i < n && src[i] >= 0x20 && src[i] < 0x7f ? (uint8_t)src[i] : ' ';
}

static uint64_t nvme_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Identify (5.15) ---- */

static void nvme_identify_ctrl(struct nvme_ctrl *c, uint8_t *id)
{
	char nqn[256];

	nvme_put16(id + NVME_IDCTRL_VID, c->vid);
	nvme_put16(id + NVME_IDCTRL_SSVID, c->ssvid);
	nvme_put_ascii(id + NVME_IDCTRL_SN, c->serial, 20);
	nvme_put_ascii(id + NVME_IDCTRL_MN, NVME_MODEL, 40);
	nvme_put_ascii(id + NVME_IDCTRL_FR, NVME_FIRMWARE, 8);
	id[NVME_IDCTRL_RAB] = 6;
	id[NVME_IDCTRL_MDTS] = NVME_MDTS;
	nvme_put16(id + NVME_IDCTRL_CNTLID, c->cntlid);
	nvme_put32(id + NVME_IDCTRL_VER, NVME_VS_1_4);
	id[NVME_IDCTRL_CNTRLTYPE] = 1;      /* I/O controller */
	nvme_put16(id + NVME_IDCTRL_OACS, 0);
	id[NVME_IDCTRL_ACL] = NVME_ACL;
	id[NVME_IDCTRL_AERL] = NVME_AERL;
	id[NVME_IDCTRL_FRMW] = 0x03;        /* one slot, slot 1 read-only */
	id[NVME_IDCTRL_LPA] = 0x05;         /* SMART per namespace, extended Get Log Page */
	id[NVME_IDCTRL_ELPE] = NVME_ERROR_LOG_ENTRIES - 1;
	id[NVME_IDCTRL_NPSS] = 0;
	nvme_put16(id + NVME_IDCTRL_WCTEMP, NVME_TEMP_WCTEMP);
	nvme_put16(id + NVME_IDCTRL_CCTEMP, NVME_TEMP_CCTEMP);
	id[NVME_IDCTRL_SQES] = NVME_SQES << 4 | NVME_SQES;
	id[NVME_IDCTRL_CQES] = NVME_CQES << 4 | NVME_CQES;
	nvme_put16(id + NVME_IDCTRL_MAXCMD, 0);
	nvme_put32(id + NVME_IDCTRL_NN, 1);
	nvme_put16(id + NVME_IDCTRL_ONCS, NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES);
	id[NVME_IDCTRL_VWC] = NVME_VWC_PRESENT | NVME_VWC_NSID_ALL;
	nvme_put32(id + NVME_IDCTRL_SGLS, 0);
	snprintf(nqn, sizeof(nqn), NVME_SUBNQN_PREFIX "%s", c->serial);
	memcpy(id + NVME_IDCTRL_SUBNQN, nqn, strlen(nqn));
	nvme_put16(id + NVME_IDCTRL_PSD0, NVME_PSD0_MAX_POWER);
}

/* A stable namespace globally unique identifier derived from the serial. */
static void nvme_ns_nguid(const struct nvme_ctrl *c, uint8_t *nguid)
{
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a */
	unsigned i;

	for (i = 0; c->serial[i]; i++)
		h = (h ^ (uint8_t)c->serial[i]) * 0x100000001b3ull;
	nvme_put64(nguid, h);
	nvme_put64(nguid + 8, (h ^ NVME_NSID) * 0x100000001b3ull);
}

static void nvme_identify_ns(struct nvme_ctrl *c, uint8_t *id)
{
	nvme_put64(id + NVME_IDNS_NSZE, c->nsze);
	nvme_put64(id + NVME_IDNS_NCAP, c->nsze);
	nvme_put64(id + NVME_IDNS_NUSE, c->nsze);
	id[NVME_IDNS_NLBAF] = 0;            /* one format */
	id[NVME_IDNS_FLBAS] = 0;
	id[NVME_IDNS_NSATTR] = c->blk->read_only ? 1 : 0;
	nvme_ns_nguid(c, id + NVME_IDNS_NGUID);
	nvme_put32(id + NVME_IDNS_LBAF0, (uint32_t)c->lba_shift << 16);
}

static void nvme_adm_identify(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint8_t cns = r->cmd.cdw10 & 0xff;
	uint32_t nsid = r->cmd.nsid;
	uint16_t status;

	switch (cns) {
	case NVME_ID_CNS_NS:
	case NVME_ID_CNS_NS_DESC_LIST:
		if (nsid != NVME_NSID) {
			status = NVME_SC_INVALID_NS | NVME_SC_DNR;
			goto done;
		}
		break;
	case NVME_ID_CNS_CTRL:
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST:
		if (nsid >= 0xfffffffeu) {
			status = NVME_SC_INVALID_NS | NVME_SC_DNR;
			goto done;
		}
		break;
	default:
		guest_error("nvme %s: Identify CNS 0x%02x not supported", c->name, cns);
		status = NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		goto done;
	}
	status = nvme_req_map(c, r, NVME_IDENTIFY_SIZE);
	if (status)
		goto done;
	memset(r->buf, 0, NVME_IDENTIFY_SIZE);
	switch (cns) {
	case NVME_ID_CNS_NS:
		nvme_identify_ns(c, r->buf);
		break;
	case NVME_ID_CNS_CTRL:
		nvme_identify_ctrl(c, r->buf);
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST:
		if (nsid < NVME_NSID)
			nvme_put32(r->buf, NVME_NSID);
		break;
	case NVME_ID_CNS_NS_DESC_LIST:
		r->buf[0] = NVME_NIDT_NGUID;
		r->buf[1] = 16;
		nvme_ns_nguid(c, r->buf + 4);
		break;
	}
	status = nvme_req_to_guest(c, r);
done:
	nvme_req_complete(c, r, status, 0);
}

/* ---- Queue management (5.3-5.6) ---- */

static uint16_t nvme_adm_create_cq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff, iv = cmd->cdw11 >> 16;
	uint32_t qsize = (cmd->cdw10 >> 16) + 1;

	if (qid == 0 || qid > c->ncqa || c->cq[qid].valid) {
		guest_error("nvme %s: Create I/O CQ %u: invalid queue identifier", c->name, qid);
		return NVME_SC_QID_INVALID | NVME_SC_DNR;
	}
	if (qsize < 2 || qsize > NVME_CAP_MQES(c->cap) + 1u) {
		guest_error("nvme %s: Create I/O CQ %u: %u entries", c->name, qid, qsize);
		return NVME_SC_QUEUE_SIZE | NVME_SC_DNR;
	}
	if (!(cmd->cdw11 & NVME_QUEUE_PHYS_CONTIG)) {
		guest_error("nvme %s: Create I/O CQ %u: only contiguous queues (PC=1)", c->name, qid);
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
	if (iv > c->max_ioqs) {
		guest_error("nvme %s: Create I/O CQ %u: interrupt vector %u of %u", c->name, qid, iv,
			    c->max_ioqs + 1u);
		return NVME_SC_INVALID_VECTOR | NVME_SC_DNR;
	}
	if (cmd->prp1 & (NVME_PAGE_SIZE - 1)) {
		guest_error("nvme %s: Create I/O CQ %u: base 0x%llx not page aligned", c->name, qid,
			    (unsigned long long)cmd->prp1);
		return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
	}
	if (((c->cc & NVME_CC_IOCQES_MASK) >> NVME_CC_IOCQES_SHIFT) != NVME_CQES) {
		guest_error("nvme %s: Create I/O CQ %u with CC.IOCQES %u", c->name, qid,
			    (c->cc & NVME_CC_IOCQES_MASK) >> NVME_CC_IOCQES_SHIFT);
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
	nvme_cq_create(c, qid, cmd->prp1, (uint16_t)qsize, iv, cmd->cdw11 & NVME_CQ_IRQ_ENABLED);
	c->ioq_created = true;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_adm_create_sq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff, cqid = cmd->cdw11 >> 16;
	uint32_t qsize = (cmd->cdw10 >> 16) + 1;

	if (qid == 0 || qid > c->nsqa || c->sq[qid].valid) {
		guest_error("nvme %s: Create I/O SQ %u: invalid queue identifier", c->name, qid);
		return NVME_SC_QID_INVALID | NVME_SC_DNR;
	}
	if (qsize < 2 || qsize > NVME_CAP_MQES(c->cap) + 1u) {
		guest_error("nvme %s: Create I/O SQ %u: %u entries", c->name, qid, qsize);
		return NVME_SC_QUEUE_SIZE | NVME_SC_DNR;
	}
	if (cqid == 0 || cqid >= NVME_MAX_QUEUES || !c->cq[cqid].valid) {
		guest_error("nvme %s: Create I/O SQ %u: completion queue %u does not exist", c->name,
			    qid, cqid);
		return NVME_SC_CQ_INVALID | NVME_SC_DNR;
	}
	if (!(cmd->cdw11 & NVME_QUEUE_PHYS_CONTIG)) {
		guest_error("nvme %s: Create I/O SQ %u: only contiguous queues (PC=1)", c->name, qid);
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
	if (cmd->prp1 & (NVME_PAGE_SIZE - 1)) {
		guest_error("nvme %s: Create I/O SQ %u: base 0x%llx not page aligned", c->name, qid,
			    (unsigned long long)cmd->prp1);
		return NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR;
	}
	if (((c->cc & NVME_CC_IOSQES_MASK) >> NVME_CC_IOSQES_SHIFT) != NVME_SQES) {
		guest_error("nvme %s: Create I/O SQ %u with CC.IOSQES %u", c->name, qid,
			    (c->cc & NVME_CC_IOSQES_MASK) >> NVME_CC_IOSQES_SHIFT);
		return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
	}
	nvme_sq_create(c, qid, cmd->prp1, (uint16_t)qsize, cqid, (cmd->cdw11 >> 1) & 3);
	c->ioq_created = true;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_adm_delete_sq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff;

	if (qid == 0 || qid >= NVME_MAX_QUEUES || !c->sq[qid].valid) {
		guest_error("nvme %s: Delete I/O SQ %u: no such queue", c->name, qid);
		return NVME_SC_QID_INVALID | NVME_SC_DNR;
	}
	nvme_sq_delete(c, qid);
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_adm_delete_cq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff;

	if (qid == 0 || qid >= NVME_MAX_QUEUES || !c->cq[qid].valid) {
		guest_error("nvme %s: Delete I/O CQ %u: no such queue", c->name, qid);
		return NVME_SC_QID_INVALID | NVME_SC_DNR;
	}
	if (c->cq[qid].nsqs) {
		guest_error("nvme %s: Delete I/O CQ %u while %u SQs use it", c->name, qid,
			    c->cq[qid].nsqs);
		return NVME_SC_INVALID_QUEUE_DELETION | NVME_SC_DNR;
	}
	nvme_cq_delete(c, qid);
	return NVME_SC_SUCCESS;
}

/* ---- Features (5.21) ---- */

static void nvme_features_default(const struct nvme_ctrl *c, struct nvme_features *f)
{
	memset(f, 0, sizeof(*f));
	f->temp_over = NVME_TEMP_WCTEMP;
	f->volatile_wc = 1;
}

/* The value Get Features reports for fid from feature set f. */
static uint16_t nvme_feature_value(struct nvme_ctrl *c, const struct nvme_features *f,
				   uint16_t nsqa, uint16_t ncqa, uint8_t fid, uint32_t cdw11,
				   uint32_t *val)
{
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		*val = f->arbitration;
		return 0;
	case NVME_FEAT_POWER_MGMT:
		*val = f->power_mgmt;
		return 0;
	case NVME_FEAT_TEMP_THRESH:
		if ((cdw11 >> 16) & 0xf || ((cdw11 >> 20) & 3) > 1)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		*val = ((cdw11 >> 20) & 3) ? f->temp_under : f->temp_over;
		return 0;
	case NVME_FEAT_VOLATILE_WC:
		*val = f->volatile_wc;
		return 0;
	case NVME_FEAT_NUM_QUEUES:
		*val = (uint32_t)(ncqa - 1) << 16 | (uint32_t)(nsqa - 1);
		return 0;
	case NVME_FEAT_IRQ_COALESCE:
		*val = f->irq_coalesce;
		return 0;
	case NVME_FEAT_IRQ_CONFIG: {
		uint16_t iv = cdw11 & 0xffff;

		if (iv > c->max_ioqs)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		*val = iv | (uint32_t)((f->irq_cd[iv / 64] >> (iv % 64)) & 1) << 16;
		return 0;
	}
	case NVME_FEAT_WRITE_ATOMIC:
		*val = f->write_atomic;
		return 0;
	case NVME_FEAT_ASYNC_EVENT:
		*val = f->async_event_cfg;
		return 0;
	}
	return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
}

static uint16_t nvme_adm_get_features(struct nvme_ctrl *c, const struct nvme_sqe *cmd,
				      uint32_t *result)
{
	uint8_t fid = cmd->cdw10 & 0xff, sel = (cmd->cdw10 >> NVME_FEAT_SEL_SHIFT) & 7;
	struct nvme_features def;
	uint16_t status;

	switch (sel) {
	case NVME_FEAT_SEL_CURRENT:
		status = nvme_feature_value(c, &c->feat, c->nsqa, c->ncqa, fid, cmd->cdw11, result);
		break;
	case NVME_FEAT_SEL_DEFAULT:
	case NVME_FEAT_SEL_SAVED:           /* nothing is saveable: saved = default */
		nvme_features_default(c, &def);
		status = nvme_feature_value(c, &def, c->max_ioqs, c->max_ioqs, fid, cmd->cdw11,
					    result);
		break;
	case NVME_FEAT_SEL_SUPPORTED:
		status = nvme_feature_value(c, &c->feat, c->nsqa, c->ncqa, fid, cmd->cdw11, result);
		*result = NVME_FEAT_CAP_CHANGEABLE;
		break;
	default:
		status = NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		break;
	}
	if (status) {
		*result = 0;
		guest_error("nvme %s: Get Features 0x%02x (select %u) not supported", c->name, fid,
			    sel);
	}
	return status;
}

static uint16_t nvme_adm_set_features(struct nvme_ctrl *c, const struct nvme_sqe *cmd,
				      uint32_t *result)
{
	uint8_t fid = cmd->cdw10 & 0xff;
	uint32_t v = cmd->cdw11;
	struct nvme_features *f = &c->feat;

	if (cmd->cdw10 & NVME_SET_FEAT_SAVE)
		return NVME_SC_FEATURE_NOT_SAVEABLE | NVME_SC_DNR;
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		f->arbitration = v & 0xffffff07u;
		return 0;
	case NVME_FEAT_POWER_MGMT:
		if (v & 0x1f)                   /* NPSS = 0: power state 0 only */
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		f->power_mgmt = v & 0xff;
		return 0;
	case NVME_FEAT_TEMP_THRESH:
		if ((v >> 16) & 0xf || ((v >> 20) & 3) > 1)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		if ((v >> 20) & 3)
			f->temp_under = v & 0xffff;
		else
			f->temp_over = v & 0xffff;
		return 0;
	case NVME_FEAT_VOLATILE_WC:
		/* Stored and reported; with the cache "off" writes still go to
		 * the backend's cache, Flush and FUA are what make them durable. */
		f->volatile_wc = v & 1;
		return 0;
	case NVME_FEAT_NUM_QUEUES: {
		uint16_t nsqr = v & 0xffff, ncqr = v >> 16;

		if (nsqr == 0xffff || ncqr == 0xffff)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		if (c->ioq_created)
			return NVME_SC_CMD_SEQ_ERROR | NVME_SC_DNR;
		c->nsqa = nsqr + 1u < c->max_ioqs ? nsqr + 1u : c->max_ioqs;
		c->ncqa = ncqr + 1u < c->max_ioqs ? ncqr + 1u : c->max_ioqs;
		*result = (uint32_t)(c->ncqa - 1) << 16 | (uint32_t)(c->nsqa - 1);
		return 0;
	}
	case NVME_FEAT_IRQ_COALESCE:
		/* Stored; completions are already batched per doorbell or poll round. */
		f->irq_coalesce = v & 0xffff;
		return 0;
	case NVME_FEAT_IRQ_CONFIG: {
		uint16_t iv = v & 0xffff;

		if (iv > c->max_ioqs)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		if (v & (1u << 16))
			f->irq_cd[iv / 64] |= 1ull << (iv % 64);
		else
			f->irq_cd[iv / 64] &= ~(1ull << (iv % 64));
		return 0;
	}
	case NVME_FEAT_WRITE_ATOMIC:
		f->write_atomic = v & 1;
		return 0;
	case NVME_FEAT_ASYNC_EVENT:
		f->async_event_cfg = v & 0x3ff;
		return 0;
	}
	guest_error("nvme %s: Set Features 0x%02x not supported", c->name, fid);
	return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
}

/* ---- Log pages (5.14) ---- */

static void nvme_put128(uint8_t *p, uint64_t v)
{
	nvme_put64(p, v);                   /* the upper 64 bits stay zero */
}

static void nvme_log_smart(struct nvme_ctrl *c, uint8_t *log)
{
	uint64_t hours = (nvme_now_ns() - c->power_on_ns0) / 3600000000000ull;
	uint8_t warn = 0;

	if (NVME_TEMP_COMPOSITE >= c->feat.temp_over || NVME_TEMP_COMPOSITE <= c->feat.temp_under)
		warn |= NVME_SMART_CRIT_TEMPERATURE;
	log[NVME_SMART_CRIT_WARN] = warn;
	nvme_put16(log + NVME_SMART_TEMPERATURE, NVME_TEMP_COMPOSITE);
	log[NVME_SMART_AVAIL_SPARE] = 100;
	log[NVME_SMART_SPARE_THRESH] = 10;
	log[NVME_SMART_PCT_USED] = 0;
	/* Data units: thousands of 512-byte units, rounded up. */
	nvme_put128(log + NVME_SMART_DATA_UNITS_READ, (c->stats.bytes_read / 512 + 999) / 1000);
	nvme_put128(log + NVME_SMART_DATA_UNITS_WRITTEN, (c->stats.bytes_written / 512 + 999) / 1000);
	nvme_put128(log + NVME_SMART_HOST_READS, c->host_reads);
	nvme_put128(log + NVME_SMART_HOST_WRITES, c->host_writes);
	nvme_put128(log + NVME_SMART_BUSY_TIME, 0);
	nvme_put128(log + NVME_SMART_POWER_CYCLES, 1);
	nvme_put128(log + NVME_SMART_POWER_ON_HOURS, hours);
	nvme_put128(log + NVME_SMART_UNSAFE_SHUTDOWNS, 0);
	nvme_put128(log + NVME_SMART_MEDIA_ERRORS, c->media_errors);
	nvme_put128(log + NVME_SMART_NUM_ERR_LOG, c->error_count);
}

static void nvme_adm_get_log_page(struct nvme_ctrl *c, struct nvme_req *r)
{
	const struct nvme_sqe *cmd = &r->cmd;
	uint8_t lid = cmd->cdw10 & 0xff;
	uint64_t numd = ((uint64_t)(cmd->cdw11 & 0xffff) << 16 | cmd->cdw10 >> 16) + 1;
	uint64_t len = numd * 4, off = cmd->cdw12 | (uint64_t)cmd->cdw13 << 32;
	uint8_t log[NVME_ERROR_LOG_ENTRIES * NVME_ERROR_LOG_ENTRY_SIZE];
	size_t size;
	uint16_t status;
	unsigned i;

	memset(log, 0, sizeof(log));
	switch (lid) {
	case NVME_LOG_ERROR:
		/* Newest first. */
		for (i = 0; i < NVME_ERROR_LOG_ENTRIES; i++)
			memcpy(log + i * NVME_ERROR_LOG_ENTRY_SIZE,
			       c->errlog[(c->errlog_next + NVME_ERROR_LOG_ENTRIES - 1 - i) %
					 NVME_ERROR_LOG_ENTRIES], NVME_ERROR_LOG_ENTRY_SIZE);
		size = sizeof(log);
		break;
	case NVME_LOG_SMART:
		if (cmd->nsid && cmd->nsid != NVME_NSID && cmd->nsid != NVME_NSID_ALL) {
			status = NVME_SC_INVALID_NS | NVME_SC_DNR;
			goto done;
		}
		nvme_log_smart(c, log);
		size = NVME_LOG_PAGE_SIZE;
		break;
	case NVME_LOG_FW_SLOT:
		log[0] = 1;                     /* AFI: slot 1 active */
		nvme_put_ascii(log + 8, NVME_FIRMWARE, 8);
		size = NVME_LOG_PAGE_SIZE;
		break;
	default:
		guest_error("nvme %s: Get Log Page 0x%02x not supported", c->name, lid);
		status = NVME_SC_INVALID_LOG_PAGE | NVME_SC_DNR;
		goto done;
	}
	if ((off & 3) || off >= size || len > NVME_MAX_XFER) {
		guest_error("nvme %s: Get Log Page 0x%02x: offset %llu, %llu bytes", c->name, lid,
			    (unsigned long long)off, (unsigned long long)len);
		status = NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		goto done;
	}
	status = nvme_req_map(c, r, (uint32_t)len);
	if (status)
		goto done;
	memset(r->buf, 0, len);
	memcpy(r->buf, log + off, len < size - off ? len : size - off);
	status = nvme_req_to_guest(c, r);
done:
	nvme_req_complete(c, r, status, 0);
}

/* ---- Admin dispatch ---- */

void nvme_admin_execute(struct nvme_ctrl *c, struct nvme_req *r)
{
	const struct nvme_sqe *cmd = &r->cmd;
	uint32_t result = 0;
	uint16_t status;

	c->stats.admin_cmds[cmd->opcode]++;
	if (cmd->flags & (NVME_SQE_FUSE_MASK | NVME_SQE_PSDT_MASK)) {
		guest_error("nvme %s: admin cid %u: fused operations and SGLs are not supported",
			    c->name, cmd->cid);
		nvme_req_complete(c, r, NVME_SC_INVALID_FIELD | NVME_SC_DNR, 0);
		return;
	}
	switch (cmd->opcode) {
	case NVME_ADM_IDENTIFY:
		nvme_adm_identify(c, r);
		return;
	case NVME_ADM_GET_LOG_PAGE:
		nvme_adm_get_log_page(c, r);
		return;
	case NVME_ADM_CREATE_CQ:
		status = nvme_adm_create_cq(c, cmd);
		break;
	case NVME_ADM_CREATE_SQ:
		status = nvme_adm_create_sq(c, cmd);
		break;
	case NVME_ADM_DELETE_SQ:
		status = nvme_adm_delete_sq(c, cmd);
		break;
	case NVME_ADM_DELETE_CQ:
		status = nvme_adm_delete_cq(c, cmd);
		break;
	case NVME_ADM_GET_FEATURES:
		status = nvme_adm_get_features(c, cmd, &result);
		break;
	case NVME_ADM_SET_FEATURES:
		status = nvme_adm_set_features(c, cmd, &result);
		break;
	case NVME_ADM_ABORT:
		/* Commands here run to completion; bit 0 set: not aborted. */
		status = NVME_SC_SUCCESS;
		result = 1;
		break;
	case NVME_ADM_ASYNC_EVENT:
		if (c->aer_count > NVME_AERL) {
			status = NVME_SC_ASYNC_LIMIT;
			break;
		}
		/* Kept outstanding: its CQ slot stays reserved for the event. */
		c->aer_cid[c->aer_count++] = cmd->cid;
		if (c->sq[0].inflight)
			c->sq[0].inflight--;
		nvme_req_put(c, r);
		return;
	default:
		guest_error("nvme %s: admin cid %u: invalid opcode 0x%02x", c->name, cmd->cid,
			    cmd->opcode);
		status = NVME_SC_INVALID_OPCODE | NVME_SC_DNR;
		break;
	}
	nvme_req_complete(c, r, status, result);
}

/* ---- Controller state machine (7.6) ---- */

static void nvme_controller_reset(struct nvme_ctrl *c)
{
	nvme_queues_reset(c);
	nvme_features_default(c, &c->feat);
	c->nsqa = c->ncqa = c->max_ioqs;
	c->fatal = false;
	c->csts &= NVME_CSTS_SHST_MASK;
}

/* CC.EN 0 -> 1: checks the configuration and the admin queue registers,
 * then creates the admin queues and reports ready. A configuration this
 * controller cannot run is reported with CSTS.CFS rather than by never
 * becoming ready, so the host fails at once instead of after CAP.TO. */
static void nvme_enable(struct nvme_ctrl *c)
{
	uint32_t asqs = NVME_AQA_ASQS(c->aqa) + 1, acqs = NVME_AQA_ACQS(c->aqa) + 1;
	const char *why = NULL;

	if (c->cc & NVME_CC_CSS_MASK)
		why = "CC.CSS is not the NVM command set";
	else if (c->cc & NVME_CC_MPS_MASK)
		why = "CC.MPS is not 4 KiB";
	else if (c->cc & NVME_CC_AMS_MASK)
		why = "CC.AMS is not round robin";
	else if (asqs < 2 || acqs < 2)
		why = "admin queue smaller than 2 entries";
	else if (!c->asq || !c->acq || ((c->asq | c->acq) & (NVME_PAGE_SIZE - 1)))
		why = "ASQ/ACQ zero or not page aligned";
	if (why) {
		guest_error("nvme %s: enable refused: %s (CC 0x%x AQA 0x%x ASQ 0x%llx ACQ 0x%llx)",
			    c->name, why, c->cc, c->aqa, (unsigned long long)c->asq,
			    (unsigned long long)c->acq);
		nvme_fatal(c, "invalid configuration at enable");
		return;
	}
	nvme_queues_reset(c);
	nvme_cq_create(c, 0, c->acq, (uint16_t)acqs, 0, true);
	nvme_sq_create(c, 0, c->asq, (uint16_t)asqs, 0, 0);
	c->csts |= NVME_CSTS_RDY;
}

/* CC.SHN set: finish what is in flight, make the backend durable, report
 * shutdown complete. Abrupt shutdown does the same here: it is quick. */
static void nvme_shutdown(struct nvme_ctrl *c)
{
	int ret;

	nvme_drain(c, false);
	ret = blk_rw_sync(c->blk, BLK_FLUSH, 0, NULL, 0);
	if (ret)
		log_error("nvme %s: flush at shutdown failed: %s", c->name, strerror(-ret));
	c->csts = (c->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT;
}

static void nvme_write_cc(struct nvme_ctrl *c, uint32_t val)
{
	const uint32_t live = NVME_CC_SHN_MASK | NVME_CC_IOSQES_MASK | NVME_CC_IOCQES_MASK;
	uint32_t old = c->cc;

	val &= NVME_CC_WRITABLE;
	/* While enabled only shutdown and the I/O entry sizes may change. */
	if ((old & NVME_CC_EN) && (val & NVME_CC_EN))
		val = (old & ~live) | (val & live);
	c->cc = val;
	if (!(old & NVME_CC_EN) && (val & NVME_CC_EN))
		nvme_enable(c);
	else if ((old & NVME_CC_EN) && !(val & NVME_CC_EN))
		nvme_controller_reset(c);
	if ((val & NVME_CC_SHN_MASK) && !(old & NVME_CC_SHN_MASK))
		nvme_shutdown(c);
	else if (!(val & NVME_CC_SHN_MASK))
		c->csts &= ~NVME_CSTS_SHST_MASK;
}

/* ---- Register access ---- */

static uint32_t nvme_read32(struct nvme_ctrl *c, uint64_t off)
{
	switch (off) {
	case NVME_REG_CAP:          return (uint32_t)c->cap;
	case NVME_REG_CAP + 4:      return (uint32_t)(c->cap >> 32);
	case NVME_REG_VS:           return NVME_VS_1_4;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC:        return c->intms;
	case NVME_REG_CC:           return c->cc;
	case NVME_REG_CSTS:         return c->csts;
	case NVME_REG_AQA:          return c->aqa;
	case NVME_REG_ASQ:          return (uint32_t)c->asq;
	case NVME_REG_ASQ + 4:      return (uint32_t)(c->asq >> 32);
	case NVME_REG_ACQ:          return (uint32_t)c->acq;
	case NVME_REG_ACQ + 4:      return (uint32_t)(c->acq >> 32);
	}
	return 0;                   /* reserved and unimplemented optional registers */
}

static void nvme_write32(struct nvme_ctrl *c, uint64_t off, uint32_t val)
{
	switch (off) {
	case NVME_REG_INTMS:
		/* Ignored with MSI-X (the only interrupt kind here) but kept. */
		c->intms |= val;
		break;
	case NVME_REG_INTMC:
		c->intms &= ~val;
		break;
	case NVME_REG_CC:
		nvme_write_cc(c, val);
		break;
	case NVME_REG_AQA:
		c->aqa = val & NVME_AQA_WRITABLE;
		break;
	case NVME_REG_ASQ:
		c->asq = (c->asq & ~0xffffffffull) | val;
		break;
	case NVME_REG_ASQ + 4:
		c->asq = (c->asq & 0xffffffffull) | (uint64_t)val << 32;
		break;
	case NVME_REG_ACQ:
		c->acq = (c->acq & ~0xffffffffull) | val;
		break;
	case NVME_REG_ACQ + 4:
		c->acq = (c->acq & 0xffffffffull) | (uint64_t)val << 32;
		break;
	case NVME_REG_NSSR:             /* CAP.NSSRS = 0 */
	default:
		guest_error("nvme %s: write 0x%x to read-only or reserved register 0x%llx ignored",
			    c->name, val, (unsigned long long)off);
		break;
	}
}

void nvme_ctrl_reg_read(struct nvme_ctrl *c, uint64_t off, uint64_t *data, unsigned len)
{
	uint64_t v;

	*data = 0;
	if ((len != 1 && len != 2 && len != 4 && len != 8) || (off & (len - 1)) ||
	    off + len > NVME_REG_SIZE) {
		guest_error("nvme %s: %u-byte read at register 0x%llx refused", c->name, len,
			    (unsigned long long)off);
		return;
	}
	pthread_mutex_lock(&c->lock);
	v = nvme_read32(c, off & ~3ull);
	if (len == 8)
		v |= (uint64_t)nvme_read32(c, off + 4) << 32;
	nvme_unlock(c);
	v >>= (off & 3) * 8;
	*data = len == 8 ? v : v & ((1ull << (len * 8)) - 1);
}

void nvme_ctrl_reg_write(struct nvme_ctrl *c, uint64_t off, uint64_t data, unsigned len)
{
	/* Registers are written in their native width (3.1): 32 bits, or 64
	 * for the 64-bit ones (as two halves, low first). */
	if ((len != 4 && len != 8) || (off & (len - 1)) || off + len > NVME_REG_SIZE) {
		guest_error("nvme %s: %u-byte write of 0x%llx at register 0x%llx refused", c->name,
			    len, (unsigned long long)data, (unsigned long long)off);
		return;
	}
	pthread_mutex_lock(&c->lock);
	nvme_write32(c, off, (uint32_t)data);
	if (len == 8)
		nvme_write32(c, off + 4, (uint32_t)(data >> 32));
	nvme_unlock(c);
}

/* ---- Lifecycle ---- */

int nvme_ctrl_init(struct nvme_ctrl *c, const struct nvme_ctrl_config *cfg)
{
	struct blk_backend *b = cfg->backend;
	uint16_t mqes = cfg->mqes ? cfg->mqes : NVME_DEFAULT_MQES;
	int ret;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", cfg->name ? cfg->name : "nvme");
	if (!b || !cfg->dma) {
		log_error("nvme %s: a backend and a DMA address space are required", c->name);
		return -EINVAL;
	}
	if (b->block_size < 512 || b->block_size > NVME_PAGE_SIZE ||
	    (b->block_size & (b->block_size - 1)) || b->size < b->block_size) {
		log_error("nvme %s: backend %s: block size %u or size %llu unusable", c->name,
			  b->desc, b->block_size, (unsigned long long)b->size);
		return -EINVAL;
	}
	if (cfg->max_ioqs > NVME_MAX_IOQS || mqes < 1) {
		log_error("nvme %s: %u I/O queues (at most %u), MQES %u", c->name, cfg->max_ioqs,
			  NVME_MAX_IOQS, mqes);
		return -EINVAL;
	}
	if (cfg->doorbell_page && ((uintptr_t)cfg->doorbell_page & (NVME_PAGE_SIZE - 1))) {
		log_error("nvme %s: doorbell page %p not page aligned", c->name, cfg->doorbell_page);
		return -EINVAL;
	}
	ret = -pthread_mutex_init(&c->lock, NULL);
	if (ret) {
		log_error("nvme %s: mutex: %s", c->name, strerror(-ret));
		return ret;
	}
	c->blk = b;
	c->dma = cfg->dma;
	c->irq = cfg->irq;
	c->irq_opaque = cfg->irq_opaque;
	c->db_page = cfg->doorbell_page;
	c->max_ioqs = cfg->max_ioqs ? cfg->max_ioqs : NVME_DEFAULT_IOQS;
	c->vid = cfg->vid ? cfg->vid : PCI_VENDOR_ID_WARDEN;
	c->ssvid = cfg->ssvid ? cfg->ssvid : c->vid;
	c->cntlid = cfg->cntlid;
	/* Identify's SN is 20 characters: longer serials are cut. */
	if (cfg->serial)
		snprintf(c->serial, sizeof(c->serial), "%.*s", NVME_SERIAL_LEN, cfg->serial);
	else
		snprintf(c->serial, sizeof(c->serial), "WARDEN-%.13s", c->name);
	c->lba_shift = (uint32_t)__builtin_ctz(b->block_size);
	c->nsze = b->size >> c->lba_shift;
	c->cap = mqes | NVME_CAP_CQR | (uint64_t)NVME_CAP_TO << NVME_CAP_TO_SHIFT |
		 NVME_CAP_CSS_NVM;          /* DSTRD, MPSMIN, MPSMAX, AMS all 0 */
	c->power_on_ns0 = nvme_now_ns();
	nvme_features_default(c, &c->feat);
	c->nsqa = c->ncqa = c->max_ioqs;
	c->inited = true;
	return 0;
}

void nvme_ctrl_destroy(struct nvme_ctrl *c)
{
	if (!c->inited)
		return;
	pthread_mutex_lock(&c->lock);
	nvme_drain(c, true);
	nvme_req_pool_free(c);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	c->inited = false;
}

void nvme_ctrl_quiesce(struct nvme_ctrl *c)
{
	pthread_mutex_lock(&c->lock);
	nvme_drain(c, false);
	nvme_unlock(c);
}

void nvme_ctrl_reset(struct nvme_ctrl *c)
{
	pthread_mutex_lock(&c->lock);
	nvme_controller_reset(c);
	c->cc = 0;
	c->csts = 0;
	c->aqa = 0;
	c->asq = c->acq = 0;
	c->intms = 0;
	nvme_unlock(c);
}

void nvme_ctrl_stats(struct nvme_ctrl *c, struct nvme_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

const char *nvme_opcode_name(bool admin, uint8_t opcode)
{
	static const char *const adm[] = {
		[NVME_ADM_DELETE_SQ] = "delete-sq", [NVME_ADM_CREATE_SQ] = "create-sq",
		[NVME_ADM_GET_LOG_PAGE] = "get-log-page", [NVME_ADM_DELETE_CQ] = "delete-cq",
		[NVME_ADM_CREATE_CQ] = "create-cq", [NVME_ADM_IDENTIFY] = "identify",
		[NVME_ADM_ABORT] = "abort", [NVME_ADM_SET_FEATURES] = "set-features",
		[NVME_ADM_GET_FEATURES] = "get-features", [NVME_ADM_ASYNC_EVENT] = "async-event",
	};
	static const char *const io[] = {
		[NVME_CMD_FLUSH] = "flush", [NVME_CMD_WRITE] = "write", [NVME_CMD_READ] = "read",
		[NVME_CMD_WRITE_ZEROES] = "write-zeroes", [NVME_CMD_DSM] = "dsm",
	};

	if (admin)
		return opcode < sizeof(adm) / sizeof(adm[0]) ? adm[opcode] : NULL;
	return opcode < sizeof(io) / sizeof(io[0]) ? io[opcode] : NULL;
}

/* ---- Save / load ---- */

#define NVME_STATE_MAGIC   0x454d564eu      /* "NVME" */
#define NVME_STATE_VERSION 1

struct nvme_state_sq {
	uint64_t base;
	uint16_t size, head, tail, cqid;
	uint8_t valid, prio, reserved[6];
};

struct nvme_state_cq {
	uint64_t base;
	uint16_t size, head, tail, iv;
	uint8_t valid, ien, phase, reserved[5];
};

/* Queue definitions are saved, commands in flight are not (save refuses
 * while the backend holds any). The error log ring is diagnostic and not
 * kept. */
struct nvme_state_v1 {
	struct snapshot_hdr hdr;
	uint64_t asq, acq;
	uint32_t cc, csts, aqa, intms;
	uint16_t max_ioqs, mqes, nsqa, ncqa;
	uint8_t ioq_created, aer_count, reserved[2];
	uint16_t aer_cid[NVME_AERL + 1];
	uint32_t arbitration, power_mgmt, volatile_wc, irq_coalesce, write_atomic, async_event_cfg;
	uint16_t temp_over, temp_under;
	uint64_t irq_cd[(NVME_MAX_QUEUES + 63) / 64];
	uint64_t error_count, host_reads, host_writes, media_errors, bytes_read, bytes_written;
	struct nvme_state_sq sq[NVME_MAX_QUEUES];
	struct nvme_state_cq cq[NVME_MAX_QUEUES];
};

int nvme_ctrl_save(struct nvme_ctrl *c, void *buf, size_t len)
{
	struct nvme_state_v1 *st;
	unsigned q;
	int ret;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = snapshot_save_begin(buf, len, &st->hdr, sizeof(*st), NVME_STATE_MAGIC,
				  NVME_STATE_VERSION);
	if (ret)
		goto out;
	pthread_mutex_lock(&c->lock);
	if (c->blk_inflight) {
		pthread_mutex_unlock(&c->lock);
		ret = -EBUSY;
		goto out;
	}
	st->asq = c->asq;
	st->acq = c->acq;
	st->cc = c->cc;
	st->csts = c->csts;
	st->aqa = c->aqa;
	st->intms = c->intms;
	st->max_ioqs = c->max_ioqs;
	st->mqes = (uint16_t)NVME_CAP_MQES(c->cap);
	st->nsqa = c->nsqa;
	st->ncqa = c->ncqa;
	st->ioq_created = c->ioq_created;
	st->aer_count = (uint8_t)c->aer_count;
	memcpy(st->aer_cid, c->aer_cid, sizeof(st->aer_cid));
	st->arbitration = c->feat.arbitration;
	st->power_mgmt = c->feat.power_mgmt;
	st->volatile_wc = c->feat.volatile_wc;
	st->irq_coalesce = c->feat.irq_coalesce;
	st->write_atomic = c->feat.write_atomic;
	st->async_event_cfg = c->feat.async_event_cfg;
	st->temp_over = c->feat.temp_over;
	st->temp_under = c->feat.temp_under;
	memcpy(st->irq_cd, c->feat.irq_cd, sizeof(st->irq_cd));
	st->error_count = c->error_count;
	st->host_reads = c->host_reads;
	st->host_writes = c->host_writes;
	st->media_errors = c->media_errors;
	st->bytes_read = c->stats.bytes_read;
	st->bytes_written = c->stats.bytes_written;
	for (q = 0; q < NVME_MAX_QUEUES; q++) {
		const struct nvme_sq *sq = &c->sq[q];
		const struct nvme_cq *cq = &c->cq[q];

		st->sq[q] = (struct nvme_state_sq){ .base = sq->base, .size = sq->size,
			.head = sq->head, .tail = sq->tail, .cqid = sq->cqid, .valid = sq->valid,
			.prio = sq->prio };
		st->cq[q] = (struct nvme_state_cq){ .base = cq->base, .size = cq->size,
			.head = cq->head, .tail = cq->tail, .iv = cq->iv, .valid = cq->valid,
			.ien = cq->ien, .phase = cq->phase };
	}
	pthread_mutex_unlock(&c->lock);
	ret = snapshot_save_end(buf, &st->hdr);
out:
	free(st);
	return ret;
}

static bool nvme_state_queues_ok(const struct nvme_ctrl *c, const struct nvme_state_v1 *st)
{
	uint32_t limit = NVME_CAP_MQES(c->cap) + 1u;
	unsigned q;

	for (q = 0; q < NVME_MAX_QUEUES; q++) {
		const struct nvme_state_sq *sq = &st->sq[q];
		const struct nvme_state_cq *cq = &st->cq[q];
		uint32_t max = q ? limit : NVME_ADMIN_QUEUE_MAX;

		if (q > c->max_ioqs && (sq->valid || cq->valid))
			return false;
		if (cq->valid && (cq->size < 2 || cq->size > max || cq->head >= cq->size ||
				  cq->tail >= cq->size || cq->iv > c->max_ioqs ||
				  (cq->base & (NVME_PAGE_SIZE - 1))))
			return false;
		if (sq->valid && (sq->size < 2 || sq->size > max || sq->head >= sq->size ||
				  sq->tail >= sq->size || sq->cqid >= NVME_MAX_QUEUES ||
				  !st->cq[sq->cqid].valid || (q == 0) != (sq->cqid == 0) ||
				  (sq->base & (NVME_PAGE_SIZE - 1))))
			return false;
	}
	if ((st->csts & NVME_CSTS_RDY) && (!st->sq[0].valid || !st->cq[0].valid))
		return false;
	/* Each outstanding event request holds an admin CQ slot: they must fit
	 * beside the completions the host has not consumed, or the first event
	 * posted would run the CQ over its head. */
	if (st->aer_count && st->cq[0].valid) {
		const struct nvme_state_cq *acq = &st->cq[0];
		unsigned used = (unsigned)(acq->tail + acq->size - acq->head) % acq->size;

		if (st->aer_count > acq->size - 1u - used)
			return false;
	}
	return true;
}

int nvme_ctrl_load(struct nvme_ctrl *c, const void *buf, size_t len)
{
	struct nvme_state_v1 *st;
	unsigned q;
	int ret;

	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = snapshot_load(buf, len, &st->hdr, sizeof(*st), NVME_STATE_MAGIC, NVME_STATE_VERSION);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (st->max_ioqs != c->max_ioqs || st->mqes != NVME_CAP_MQES(c->cap) ||
	    (st->cc & ~NVME_CC_WRITABLE) ||
	    (st->csts & ~(NVME_CSTS_RDY | NVME_CSTS_CFS | NVME_CSTS_SHST_MASK)) ||
	    ((st->csts & NVME_CSTS_RDY) && !(st->cc & NVME_CC_EN)) ||
	    (st->aqa & ~NVME_AQA_WRITABLE) || !st->nsqa || st->nsqa > c->max_ioqs ||
	    !st->ncqa || st->ncqa > c->max_ioqs || st->aer_count > NVME_AERL + 1 ||
	    (st->aer_count && !st->cq[0].valid) || !nvme_state_queues_ok(c, st))
		goto out;
	pthread_mutex_lock(&c->lock);
	nvme_queues_reset(c);
	c->asq = st->asq;
	c->acq = st->acq;
	c->cc = st->cc;
	c->csts = st->csts;
	c->fatal = st->csts & NVME_CSTS_CFS;
	c->aqa = st->aqa;
	c->intms = st->intms;
	c->nsqa = st->nsqa;
	c->ncqa = st->ncqa;
	c->ioq_created = st->ioq_created;
	c->aer_count = st->aer_count;
	memcpy(c->aer_cid, st->aer_cid, sizeof(c->aer_cid));
	c->feat.arbitration = st->arbitration;
	c->feat.power_mgmt = st->power_mgmt;
	c->feat.volatile_wc = st->volatile_wc;
	c->feat.irq_coalesce = st->irq_coalesce;
	c->feat.write_atomic = st->write_atomic;
	c->feat.async_event_cfg = st->async_event_cfg;
	c->feat.temp_over = st->temp_over;
	c->feat.temp_under = st->temp_under;
	memcpy(c->feat.irq_cd, st->irq_cd, sizeof(c->feat.irq_cd));
	c->error_count = st->error_count;
	c->host_reads = st->host_reads;
	c->host_writes = st->host_writes;
	c->media_errors = st->media_errors;
	c->stats.bytes_read = st->bytes_read;
	c->stats.bytes_written = st->bytes_written;
	for (q = 0; q < NVME_MAX_QUEUES; q++) {
		const struct nvme_state_cq *cq = &st->cq[q];

		if (cq->valid) {
			nvme_cq_create(c, (uint16_t)q, cq->base, cq->size, cq->iv, cq->ien);
			c->cq[q].head = cq->head;
			c->cq[q].tail = cq->tail;
			c->cq[q].phase = cq->phase;
		}
	}
	for (q = 0; q < NVME_MAX_QUEUES; q++) {
		const struct nvme_state_sq *sq = &st->sq[q];

		if (sq->valid) {
			nvme_sq_create(c, (uint16_t)q, sq->base, sq->size, sq->cqid, sq->prio);
			c->sq[q].head = sq->head;
			c->sq[q].tail = sq->tail;
		}
	}
	/* Outstanding event requests hold admin CQ slots. */
	c->cq[0].reserved = (uint16_t)c->aer_count;
	/* Polled doorbells resume from the values the controller had taken. */
	for (q = 0; q < NVME_MAX_QUEUES; q++) {
		c->db_shadow[2 * q] = c->sq[q].tail;
		c->db_shadow[2 * q + 1] = c->cq[q].head;
		if (c->db_page) {
			__atomic_store_n(&c->db_page[2 * q], c->sq[q].tail, __ATOMIC_RELAXED);
			__atomic_store_n(&c->db_page[2 * q + 1], c->cq[q].head, __ATOMIC_RELAXED);
		}
	}
	nvme_unlock(c);
	ret = 0;
out:
	free(st);
	return ret;
}
