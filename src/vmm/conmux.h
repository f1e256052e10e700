/* Several VM consoles on one output (stdout): each source is a pipe whose
 * write end is a VM's UART output; a thread reads them and writes whole
 * lines, each with the source's prefix ("[vm1] "), so lines of different
 * VMs never interleave mid-line. */
#ifndef WARDEN_VMM_CONMUX_H
#define WARDEN_VMM_CONMUX_H

#include <stdbool.h>

#define CONMUX_MAX_SOURCES 8
#define CONMUX_LINE_MAX    4096        /* a longer line is split */

struct conmux;

/* out_fd is not owned. 0 and *out, or -errno. */
int conmux_create(int out_fd, struct conmux **out);
/* A new source; returns the write end (the caller owns it and closes it when
 * the source has nothing more to say) or -errno. Before conmux_start only. */
int conmux_add(struct conmux *mx, const char *prefix);
int conmux_start(struct conmux *mx);
/* Writes out everything source has written so far; a last line without its
 * newline is ended (the source has stopped talking). */
void conmux_drain(struct conmux *mx, unsigned source);
/* Drains every source and ends the thread. Call after the write ends are
 * closed (or their writers stopped). */
void conmux_destroy(struct conmux *mx);

#endif
