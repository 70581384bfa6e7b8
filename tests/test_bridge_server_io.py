"""What both servers share: the record decoder (protocol.decode) and the status file
(status.py).  Expectations are written out by hand from docs/bridge.md's record layout."""

from __future__ import annotations

import json

from cimtrain.bridge import protocol as P
from cimtrain.bridge import status as S


def _w0(op: int, count: int) -> int:
    return op << P.REC_OP_SHIFT | count


def test_decode_every_record_kind():
    recs = [7, _w0(P.OP_WRITE, 3), 0x100, 11, 12, 13,          # burst write
            8, _w0(P.OP_WRITE_FIXED, 2), 0x3C, 21, 22,         # fixed-address write
            9, _w0(P.OP_WAIT, 0), 250,                         # wait_done, 250 ms
            10, _w0(P.OP_READ_FIXED, 3), 0x3C,                 # fixed-address read
            11, _w0(P.OP_READ, 2), 0x800]                      # burst read
    got = [(s, op, a, list(addrs), list(wd)) for s, op, a, addrs, wd in P.decode(recs)]
    assert got == [(7, P.OP_WRITE, 0x100, [0x100, 0x104, 0x108], [11, 12, 13]),
                   (8, P.OP_WRITE_FIXED, 0x3C, [0x3C, 0x3C], [21, 22]),
                   (9, P.OP_WAIT, 250, [], []),
                   (10, P.OP_READ_FIXED, 0x3C, [0x3C] * 3, []),
                   (11, P.OP_READ, 0x800, [0x800, 0x804], [])]
    assert list(P.decode([])) == []


def test_status_file_lifecycle(tmp_path):
    path = tmp_path / "st.json"
    assert S.read(path) is None
    w = S.StatusFile(path, "rtl", "win", "seed-chip")
    assert S.read(path)["state"] == "starting"
    S.StatusFile(path).ready(params={"NTILES": 4})          # another process continues it
    w.session(0, 1.23456, {"reads": 5}, mismatches=0)
    w.session(1, 2.0, {"reads": 6})
    w.finish(0)
    st = json.loads(path.read_text())
    assert st["server"] == "rtl" and st["window"] == "win" and st["preset"] == "seed-chip"
    assert st["state"] == "done" and st["error"] is None and st["params"] == {"NTILES": 4}
    assert st["sessions"] == [{"exit": 0, "seconds": 1.235, "stats": {"reads": 5},
                               "mismatches": 0},
                              {"exit": 1, "seconds": 2.0, "stats": {"reads": 6}}]
    assert [p.name for p in tmp_path.iterdir()] == ["st.json"], "no temporary file left"


def test_status_file_keeps_the_first_error(tmp_path):
    path = tmp_path / "st.json"
    w = S.StatusFile(path, "model", "win", "default")
    S.StatusFile(path).fail("rtl server: RTL/model mismatch (1): read 0x0024 ...")
    w.finish(1, "rtl server: the simulation failed")
    st = S.read(path)
    assert st["state"] == "failed" and st["error"].startswith("rtl server: RTL/model mismatch")
    w2 = S.StatusFile(tmp_path / "b.json", "model", "w", "default")
    w2.finish(3)
    assert S.read(w2.path) == {**S.read(w2.path), "state": "failed", "error": "exit status 3"}
