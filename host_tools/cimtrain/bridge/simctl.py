"""The simulation's interconnect registers: chip-image snapshots for firmware checkpoints.

On silicon the array is non-volatile: a firmware checkpoint needs only the firmware's own
state.  In simulation the array lives in the server, so the servers answer two registers
above the macro's window (protocol.SIM_SNAPSHOT, SIM_COMMIT; every other address up there
is DECERR, as before), never passed to the macro (docs/checkpoint.md):

- write SIM_SNAPSHOT = T: save the chip image (conductances, write counters, seed,
  OP_COUNT) as ``chip-T.npz`` in the server's ``--ckpt`` folder, atomically, with its
  SHA-256 (model/chip_image.py); SLVERR when the server has no folder or the save failed
  (the reason on the server's output).  Read SIM_SNAPSHOT: T of the last image saved.
- write SIM_COMMIT = T: the firmware committed its state of T; the other chip images of
  the folder are removed.
"""

from __future__ import annotations

from pathlib import Path

from . import protocol as P


class SimCtl:
    """Decodes the interconnect's registers; ``save(path)`` writes the chip image (the
    model server's is synchronous; the RTL server calls ``snapshot_path`` and
    ``saved`` around its own, which drives the bus)."""

    def __init__(self, ckpt_dir: str | Path | None, log=print) -> None:
        self.dir = Path(ckpt_dir) if ckpt_dir else None
        self.last = 0
        self.log = log

    @staticmethod
    def claims(addr: int) -> bool:
        return addr in (P.SIM_SNAPSHOT, P.SIM_COMMIT)

    def snapshot_path(self, tag: int) -> Path | None:
        if self.dir is None:
            self.log("SIM_SNAPSHOT written, but this server has no --ckpt folder: SLVERR")
            return None
        from ..ckpt import chip_name
        return self.dir / chip_name(tag)

    def saved(self, tag: int) -> None:
        self.last = tag

    def commit(self, tag: int) -> int:
        if self.dir is None:
            return P.RESP_SLVERR
        from ..ckpt import chip_name
        keep = chip_name(tag)
        for p in self.dir.glob("chip-*.npz"):
            if p.name != keep:
                p.unlink(missing_ok=True)
        return P.RESP_OKAY

    def write(self, addr: int, data: int, save) -> int:
        """A write above the macro's window: its response."""
        if addr == P.SIM_SNAPSHOT:
            path = self.snapshot_path(data)
            if path is None:
                return P.RESP_SLVERR
            try:
                save(path)
            except OSError as e:
                self.log(f"chip image {path} not saved: {e}")
                return P.RESP_SLVERR
            self.saved(data)
            return P.RESP_OKAY
        if addr == P.SIM_COMMIT:
            return self.commit(data)
        return P.RESP_DECERR

    def read(self, addr: int) -> tuple[int, int]:
        if addr == P.SIM_SNAPSHOT:
            return self.last, P.RESP_OKAY
        return 0, P.RESP_DECERR
