/* cimtrain bridge: the API of the C window library (cbridge.c).
 *
 * The one list of its functions: cbridge.c includes it, and bridge/build.py gives it to
 * cffi as the cdef (cffi reads C declarations only: build.py drops the lines of this file
 * that start with '#').  Protocol and usage: docs/bridge.md.
 *
 * Return codes: CB_E_* (negative, bridge/protocol.py E_*), 0 or a count on success; the
 * message of the last error is cb_msg().
 */
#ifndef CIMTRAIN_CBRIDGE_H
#define CIMTRAIN_CBRIDGE_H
#include <stdint.h>

typedef struct cb_win cb_win;

/* a window handle, either side */
cb_win *cb_new(void);
void cb_free(cb_win *w);
void cb_close(cb_win *w);
const char *cb_msg(cb_win *w);
const char *cb_alarm_msg(cb_win *w);
int cb_alarm(cb_win *w);
uint32_t cb_hdr(cb_win *w, uint32_t off);
void cb_hdr_set(cb_win *w, uint32_t off, uint32_t v);
uint32_t *cb_rdbuf(cb_win *w);
uintptr_t cb_base(cb_win *w);
const uint32_t *cb_err_info(cb_win *w);

/* server side */
int cb_server_create(cb_win *w, const char *name, uint32_t kind, uint32_t macro_base,
                     uint32_t macro_bytes, uint32_t version);
int cb_srv_wait_attach(cb_win *w, int timeout_ms);
int cb_srv_fetch(cb_win *w, uint32_t *out, uint32_t max_words, int timeout_ms);
void cb_srv_error(cb_win *w, uint32_t seq, uint32_t op, uint32_t addr, uint32_t resp);
void cb_srv_complete(cb_win *w, uint32_t seq, uint32_t status);
void cb_srv_reset_session(cb_win *w);
void cb_srv_fail(cb_win *w, const char *msg);

/* firmware side (the launcher; host clients in tests) */
int cb_open(cb_win *w, const char *name, uintptr_t addr);
int cb_fw_attach(cb_win *w, int grace_ms);
int cb_fw_detach(cb_win *w, int exit_code, int timeout_ms);
int cb_fw_write(cb_win *w, uint32_t addr, const uint32_t *data, uint32_t n, int fixed,
                int timeout_ms);
int cb_fw_read(cb_win *w, uint32_t addr, uint32_t *out, uint32_t n, int fixed, int timeout_ms);
int cb_fw_wait_done(cb_win *w, uint32_t dev_timeout_ms, int timeout_ms);
int cb_fw_flush(cb_win *w, int timeout_ms);
int cb_fw_post_raw(cb_win *w, const uint32_t *words, uint32_t n);

#endif
