"""Register-level, bit-exact model of the CIM macro.

Same write sequence in, same read data and responses out as ``rtl/cim_macro.sv``,
including bus errors, BUSY timing, counters, noise and saturation.  Time is the
clock-edge index ``cycle`` (edges since reset release).  A testbench passes the
handshake edge of every access; a server without a clock leaves ``cycle=None``
and the model advances ``BUS_CYCLES`` edges per access by itself.

    m = CimMacro("seed-chip")
    m.write(ADDR["CTRL"], 0b10)          # -> 0 (OKAY)
    data, resp = m.read(ADDR["ID"])      # -> (0x43494D31, 0)
"""

from __future__ import annotations

import numpy as np

from .. import regs
from .array import CimArray, adc

OKAY, SLVERR, DECERR = 0, 2, 3
M32 = 0xFFFFFFFF
E = regs.ERR
OP = regs.OP


def macro_params(preset: str = "default", **overrides: int) -> dict:
    """Spec parameters of a preset, with optional overrides (NTILES, ROWS, COLS...)."""
    if preset not in regs.PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(regs.PRESETS)}")
    p = {**regs.PARAMS, **regs.PRESETS[preset], **overrides}
    unknown = set(overrides) - set(regs.PARAMS)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
    return p


def _decode_table() -> dict[int, str]:
    table = {off: name for name, off in regs.ADDR.items() if name not in regs.WORDS}
    for name, words in regs.WORDS.items():
        for w in range(words):
            table[regs.ADDR[name] + 4 * w] = name
    return table


_DECODE = _decode_table()


class BusError(Exception):
    """Raised by the convenience accessors ``rd``/``wr`` on a non-OKAY response."""


class CimMacro:
    BUS_CYCLES = 3  # edges per access when the caller gives no cycle

    def __init__(self, preset: str = "default", **overrides: int) -> None:
        self.p = macro_params(preset, **overrides)
        self.array = CimArray(self.p)
        self.reset()

    # -- reset (digital only: the array keeps its state, like memristors) -------------------
    def reset(self) -> None:
        p = self.p
        self.cycle = 0
        self.reg = {name: regs.RESET[name] for name in regs.REG_MASK}
        for name, param in regs.RESET_PARAM.items():
            if param != "HWCFG":  # HWCFG: below, from its fields
                self.reg[name] = p[param]
        self.reg["HWCFG"] = regs.pack_hwcfg(tiles=p["NTILES"], rows=p["ROWS"], cols=p["COLS"])
        lines = 4 * regs.WORDS["INBUF"]
        self.inbuf = np.zeros(lines, dtype=np.int64)         # uint8 codes
        self.outbuf = np.zeros(lines, dtype=np.int64)        # int8 codes
        self.satbuf = np.zeros(lines, dtype=bool)
        self.readbuf = np.zeros((regs.WORDS["READBUF"], 2), dtype=np.int64)
        self.err_code = self.err_count = self.err_addr = 0
        self.irq_done = False
        self.done = False
        self.sat = False
        self.pending = False
        self.cmd = 0        # CMD word of the last accepted command (names a timed-out wait)
        self.t0 = self.dur = 0
        self.cycle_hi_latch = self.energy_hi_latch = 0
        self.op_count = self.energy = self.pulse_total = self.sat_count = self.last_cycles = 0
        self.dead = [0] * p["NTILES"]  # DEAD_COLS_HI:LO of every tile (bit c: column c)

    # -- time ------------------------------------------------------------------------------
    @property
    def idle_cycle(self) -> int:
        """Edge by which the running command has completed (BUSY reads 0 after it)."""
        return self.t0 + self.dur + 1 if self.pending else self.cycle

    @property
    def busy(self) -> bool:
        return self.pending and self.cycle <= self.t0 + self.dur

    @property
    def irq(self) -> bool:
        self._retire(self.cycle)
        return self.irq_done and bool(self.reg["CTRL"] & regs.MSK["CTRL_IRQ_EN"])

    def irq_at(self, cycle: int) -> bool:
        """irq_o as seen on edge ``cycle`` (before that edge's accesses)."""
        self.advance_to(cycle)
        return self.irq

    def advance_to(self, cycle: int) -> None:
        if cycle < self.cycle:
            raise ValueError(f"time runs backwards: {cycle} < {self.cycle}")
        self.cycle = cycle
        self._retire(cycle)

    def wait_idle(self) -> int:
        """Advance time until the running command is done; returns the new cycle."""
        self.advance_to(self.idle_cycle)
        return self.cycle

    def _retire(self, t: int) -> None:
        if self.pending and t > self.t0 + self.dur:
            self._complete()

    def _complete(self) -> None:
        self.pending = False
        self.done = True
        self.irq_done = True

    def _begin(self, cycle: int | None) -> int:
        t = self.cycle if cycle is None else cycle
        if t < self.cycle:
            raise ValueError(f"access at edge {t} before edge {self.cycle}")
        self._retire(t)
        return t

    def _end(self, t: int) -> None:
        # Completion on the access edge itself: hardware set wins over a W1C.
        if self.pending and t == self.t0 + self.dur:
            self._complete()
        self.cycle = t + (self.BUS_CYCLES if self._auto else 1)

    # -- bus -------------------------------------------------------------------------------
    def write(self, addr: int, data: int, strb: int = 0xF, cycle: int | None = None) -> int:
        """One AXI write at edge ``cycle``; returns the response (OKAY/SLVERR/DECERR)."""
        self._auto = cycle is None
        t = self._begin(cycle)
        resp = self._write(addr, data & M32, strb, t)
        self._end(t)
        return resp

    def read(self, addr: int, cycle: int | None = None) -> tuple[int, int]:
        """One AXI read at edge ``cycle``; returns (data, response)."""
        self._auto = cycle is None
        t = self._begin(cycle)
        data, resp = self._read(addr, t)
        self._end(t)
        return data, resp

    def rd(self, addr: int) -> int:
        data, resp = self.read(addr)
        if resp:
            raise BusError(f"read 0x{addr:04X}: resp {resp}, {self.error_name()}")
        return data

    def wr(self, addr: int, data: int) -> None:
        resp = self.write(addr, data)
        if resp:
            raise BusError(f"write 0x{addr:04X}: resp {resp}, {self.error_name()}")

    def error_name(self) -> str:
        return next((k for k, v in E.items() if v == self.err_code), str(self.err_code))

    # -- access checks ---------------------------------------------------------------------
    def _error(self, code: int, addr: int) -> int:
        if self.err_code == 0:
            self.err_code, self.err_addr = code, addr
        self.err_count = min(self.err_count + 1, 0xFFFF)
        return DECERR if code == E["DECODE"] else SLVERR

    def _check(self, addr: int, is_write: bool, strb: int, t: int) -> tuple[str | None, int]:
        """Returns (register or buffer name, error code or 0)."""
        if addr & 3:
            return None, E["MISALIGNED"]
        name = _DECODE.get(addr) if 0 <= addr < regs.WINDOW_BYTES else None
        if name is None:
            return None, E["DECODE"]
        if is_write and strb != 0xF:
            return name, E["BAD_STRB"]
        access = regs.ACCESS[name]
        if is_write and access == "ro":
            return name, E["READ_ONLY"]
        if not is_write and access == "wo":
            return name, E["WRITE_ONLY"]
        busy = self.pending and t <= self.t0 + self.dur
        if busy and regs.GROUP[name] in ("config", "debug"):
            return name, E["BUSY"]
        if regs.GROUP[name] == "debug" and not self.reg["CTRL"] & regs.MSK["CTRL_DBG_EN"]:
            return name, E["DBG_LOCKED"]
        if name in ("DBG_G", "DBG_WC") and not self._dbg_in_range():
            return name, E["BAD_WINDOW"]
        if name in ("DEAD_COLS_LO", "DEAD_COLS_HI") and self.reg["TILE"] >= self.p["NTILES"]:
            return name, E["BAD_TILE"]
        return name, 0

    def _dbg_fields(self) -> tuple[int, int, int]:
        """(tile, row, col) of DBG_ADDR."""
        col, row, tile = regs.unpack_dbg_addr(self.reg["DBG_ADDR"])
        return tile, row, col

    def _dbg_in_range(self) -> bool:
        tile, row, col = self._dbg_fields()
        return tile < self.p["NTILES"] and row < self.p["ROWS"] and col < self.p["COLS"]

    def _dbg_advance(self) -> None:
        tile, row, col = self._dbg_fields()
        col += 1
        if col >= self.p["COLS"]:
            col, row = 0, row + 1
            if row >= self.p["ROWS"]:
                row, tile = 0, tile + 1
                if tile >= self.p["NTILES"]:
                    tile = 0
        self.reg["DBG_ADDR"] = regs.pack_dbg_addr(tile=tile, row=row, col=col)

    # -- reads -----------------------------------------------------------------------------
    def _read(self, addr: int, t: int) -> tuple[int, int]:
        name, err = self._check(addr, False, 0xF, t)
        if err:
            return 0, self._error(err, addr)
        busy = self.pending and t <= self.t0 + self.dur
        if name in regs.WORDS:
            return self._read_buffer(name, (addr - regs.ADDR[name]) // 4), OKAY
        if name == "STATUS":
            v = regs.pack_status(busy=busy, done=self.done, err=self.err_code != 0, sat=self.sat)
        elif name == "IRQ_STATUS":
            v = int(self.irq_done)
        elif name == "ERR_CODE":
            v = regs.pack_err_code(code=self.err_code, count=self.err_count)
        elif name == "ERR_ADDR":
            v = self.err_addr
        elif name == "CYCLE_LO":
            v = t & M32
            self.cycle_hi_latch = (t >> 32) & M32
        elif name == "CYCLE_HI":
            v = self.cycle_hi_latch
        elif name == "ENERGY_LO":
            v = self.energy & M32
            self.energy_hi_latch = (self.energy >> 32) & M32
        elif name == "ENERGY_HI":
            v = self.energy_hi_latch
        elif name == "OP_COUNT":
            v = self.op_count
        elif name == "PULSE_TOTAL":
            v = self.pulse_total
        elif name == "SAT_COUNT":
            v = self.sat_count
        elif name == "LAST_CYCLES":
            v = self.last_cycles
        elif name == "DBG_G":
            tile, row, col = self._dbg_fields()
            gp, gn = self.array.g[tile, row, col]
            v = regs.pack_dbg_g(gp=int(gp), gn=int(gn))
            self._dbg_advance()
        elif name == "DBG_WC":
            tile, row, col = self._dbg_fields()
            wp, wn = self.array.wc[tile, row, col]
            v = regs.pack_dbg_wc(wcp=int(wp), wcn=int(wn))
        elif name in ("DEAD_COLS_LO", "DEAD_COLS_HI"):
            v = self.dead[self.reg["TILE"]] >> (32 if name == "DEAD_COLS_HI" else 0)
        else:
            v = self.reg[name]
        return v & M32, OKAY

    def _read_buffer(self, name: str, w: int) -> int:
        if name == "INBUF":
            b = self.inbuf[4 * w:4 * w + 4]
        elif name == "OUTBUF":
            b = self.outbuf[4 * w:4 * w + 4] & 0xFF
        elif name == "SATBUF":
            bits = self.satbuf[32 * w:32 * w + 32]
            return int(sum(1 << k for k in range(32) if bits[k]))
        else:  # READBUF
            gp, gn = self.readbuf[w]
            return int(gp) | int(gn) << 16
        return int(b[0]) | int(b[1]) << 8 | int(b[2]) << 16 | int(b[3]) << 24

    # -- writes ----------------------------------------------------------------------------
    def _write(self, addr: int, data: int, strb: int, t: int) -> int:
        name, err = self._check(addr, True, strb, t)
        if err:
            return self._error(err, addr)
        if name == "INBUF":
            w = (addr - regs.ADDR["INBUF"]) // 4
            self.inbuf[4 * w:4 * w + 4] = [(data >> (8 * k)) & 0xFF for k in range(4)]
        elif name == "CMD":
            err = self._validate_cmd(data)
            if err:
                return self._error(err, addr)
            self._issue(data, t)
        elif name == "IRQ_STATUS":
            if data & 1:
                self.irq_done = False
        elif name == "ERR_CODE":
            self.err_code = self.err_count = self.err_addr = 0
        elif name == "DBG_G":
            tile, row, col = self._dbg_fields()
            gmax = self.p["GCODE_MAX"]
            gp, gn = regs.unpack_dbg_g(data)
            self.array.g[tile, row, col] = (min(gp, gmax), min(gn, gmax))
            self._dbg_advance()
        elif name in ("DEAD_COLS_LO", "DEAD_COLS_HI"):
            sh = 32 if name == "DEAD_COLS_HI" else 0
            t = self.reg["TILE"]
            self.dead[t] = self.dead[t] & ~(M32 << sh) | data << sh
        else:
            self.reg[name] = data & regs.REG_MASK[name]
        return OKAY

    # -- commands --------------------------------------------------------------------------
    def _validate_cmd(self, data: int) -> int:
        p, r = self.p, self.reg
        op = data & regs.MSK["CMD_OPCODE"]
        if op not in OP.values():
            return E["BAD_CMD"]
        if r["TILE"] >= p["NTILES"]:
            return E["BAD_TILE"]
        rs, rc, cs, cc = r["ROW_START"], r["ROW_COUNT"], r["COL_START"], r["COL_COUNT"]
        cols_ok = cc != 0 and cs + cc <= p["COLS"]
        if op in (OP["VMM_FWD"], OP["VMM_TRANS"]):
            if not (rc != 0 and rs + rc <= p["ROWS"] and cols_ok):
                return E["BAD_WINDOW"]
        elif op == OP["READ_ROW"]:
            if not (rs < p["ROWS"] and cols_ok):
                return E["BAD_WINDOW"]
        elif op == OP["PULSE"]:
            if (r["PULSE_ROW"] >= p["ROWS"] or r["PULSE_WIDTH"] == 0 or r["PULSE_COUNT"] == 0
                    or r["PULSE_SET_AMP"] > p["AMP_MAX_MV"]
                    or r["PULSE_RESET_AMP"] > p["AMP_MAX_MV"]):
                return E["BAD_PULSE"]
        return 0

    def _mask_cols(self, lo: str, hi: str) -> np.ndarray:
        m = self.reg[lo] | self.reg[hi] << 32
        return np.array([c for c in range(self.p["COLS"]) if m >> c & 1], dtype=np.int64)

    def _issue(self, data: int, t: int) -> None:
        p, r = self.p, self.reg
        op_code, signed, pol = regs.unpack_cmd(data)
        op = self.op_count
        self.op_count = (self.op_count + 1) & M32
        self.cmd = data
        seed, tile = r["SEED"], r["TILE"]
        rs, rc, cs, cc = r["ROW_START"], r["ROW_COUNT"], r["COL_START"], r["COL_COUNT"]
        cpa, adc_cycles = p["COLS_PER_ADC"], p["ADC_CYCLES"]
        if op_code in (OP["VMM_FWD"], OP["VMM_TRANS"]):
            trans = op_code == OP["VMM_TRANS"]
            phases = 2 if signed else 1
            codes = self.inbuf
            if signed:
                codes = np.where(codes >= 128, codes - 256, codes)
            x = codes[cs:cs + cc] if trans else codes[rs:rs + rc]
            current = self.array.vmm(trans, tile, x, rs, rc, cs, cc, seed, op,
                                     r["NOISE_READ_SIGMA"])
            lines = np.arange(rs, rs + rc) if trans else np.arange(cs, cs + cc)
            off = r["ADC_OFFSET"] - ((r["ADC_OFFSET"] & 0x8000) << 1)
            y, sat = adc(current, r["ADC_GAIN"], r["ADC_SHIFT"], off, r["NOISE_ADC_SIGMA"],
                         seed, op, rs if trans else cs)
            self.outbuf[lines] = y
            self.satbuf[lines] = sat
            self.sat_count = int(sat.sum())
            self.sat = self.sat_count != 0
            n_out = rc if trans else cc
            dur = p["CMD_OVERHEAD"] + phases * min(n_out, cpa) * adc_cycles
            self.energy += p["E_MAC_FJ"] * rc * cc * phases
        elif op_code == OP["READ_ROW"]:
            g = self.array.read_row(tile, rs, cs, cc, seed, op, r["NOISE_READ_SIGMA"])
            self.readbuf[cs:cs + cc] = g
            dur = p["CMD_OVERHEAD"] + 2 * min(cc, cpa) * adc_cycles
            self.energy += p["E_READ_FJ"] * 2 * cc
        else:  # PULSE
            set_cols = self._mask_cols("PULSE_SET_MASK_LO", "PULSE_SET_MASK_HI")
            reset_cols = self._mask_cols("PULSE_RESET_MASK_LO", "PULSE_RESET_MASK_HI")
            row, width, count = r["PULSE_ROW"], r["PULSE_WIDTH"], r["PULSE_COUNT"]
            common = dict(seed=seed, pulse_sigma=r["NOISE_PULSE_SIGMA"],
                          stuck_rate=r["STUCK_RATE"], dead_mask=self.dead[tile])
            self.array.pulse_row(tile, row, pol, set_cols, True, r["PULSE_SET_AMP"], width,
                                 count, **common)
            self.array.pulse_row(tile, row, pol, reset_cols, False, r["PULSE_RESET_AMP"], width,
                                 count, **common)
            phases = int(set_cols.size > 0) + int(reset_cols.size > 0)
            dur = p["CMD_OVERHEAD"] + phases * count * (width + p["PULSE_GAP"])
            n = count * (set_cols.size + reset_cols.size)
            self.energy += p["E_PULSE_FJ"] * n
            self.pulse_total = (self.pulse_total + n) & M32
        self.energy &= (1 << 64) - 1
        self.last_cycles = dur
        self.pending, self.t0, self.dur = True, t, dur
        self.done = False
