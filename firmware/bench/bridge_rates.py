# Bus rates as the firmware sees them (MicroPython, through hal.py: any board module).
# Run on the virtual board by python -m cimtrain.bridge.bench; not part of the board image
# (fwbuild takes firmware/*.py only).
#     bridge_rates.py [N [V]]   N accesses per rate, V VMM commands (default N // 10)
# Prints one line "BENCH {...}" with rates measured on the firmware side.
import sys
import time

import hal
from cim_regs import B_INBUF, B_OUTBUF, OP_VMM_FWD, R_CMD, R_COL_COUNT, R_ROW_COUNT, R_SEED

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
V = int(sys.argv[2]) if len(sys.argv) > 2 else N // 10
K = max(1, N // 20)
r = {}


def us_since(t):
    return time.ticks_diff(time.ticks_us(), t)


t = time.ticks_us()
for i in range(N):
    hal.wr32(R_SEED, i)
hal.flush()
r["writes_per_s"] = N * 1000000 // us_since(t)
t = time.ticks_us()
for _ in range(N):
    hal.rd32(R_SEED)
dt = us_since(t)
r["reads_per_s"] = N * 1000000 // dt
r["read_rtt_ns_mean"] = dt * 1000 // N
lat = []
for _ in range(min(N, 2000)):
    t = time.ticks_us()
    hal.rd32(R_SEED)
    lat.append(us_since(t))
lat.sort()
r["read_rtt_us_median"] = lat[len(lat) // 2]
r["read_rtt_us_p99"] = lat[len(lat) * 99 // 100]
buf = bytearray(256)            # 64 words: the whole INBUF
t = time.ticks_us()
for _ in range(K):
    hal.wr_burst(B_INBUF, buf)
hal.flush()
r["burst_write_kB_per_s"] = K * 256 * 1000 // us_since(t)
t = time.ticks_us()
for _ in range(K):
    hal.rd_burst(B_INBUF, buf)
r["burst_read_kB_per_s"] = K * 256 * 1000 // us_since(t)
# The training loop's shape: 10 INBUF words in, CMD, wait_done, 3 OUTBUF words out
# (a 40 x 12 forward VMM: 2 + 8 * 9 = 74 cycles); once with a blocking wait_done (two
# round trips per VMM), once with a posted one (the driver's way: one round trip).
hal.wr32(R_ROW_COUNT, 40)
hal.wr32(R_COL_COUNT, 12)
x = bytearray(range(40))
out = [0, 0, 0]
for key, posted in (("vmm_blocking_per_s", False), ("vmm_per_s", True)):
    t = time.ticks_us()
    for _ in range(V):
        hal.wr_burst(B_INBUF, x)
        hal.wr32(R_CMD, OP_VMM_FWD)
        if posted:
            hal.wait_done(10, True)
        else:
            hal.wait_done(10)
        hal.rd_burst(B_OUTBUF, out)
    r[key] = V * 1000000 // max(1, us_since(t))
print("BENCH", repr(r))
