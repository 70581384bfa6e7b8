# Bridge benchmark firmware (MicroPython): run by python -m cimtrain.bridge.bench.
# Prints one line "BENCH {...}" with rates measured on the firmware side.
import sys
import time

import hal
from cim_regs import B_INBUF, R_SEED

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
K = N // 20
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
for _ in range(2000):
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
print("BENCH", repr(r))
