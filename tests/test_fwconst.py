"""Generated firmware constants (host_tools/cimtrain/gen_fwconst.py) are fresh, and the
check sees a stale or hand-edited block."""

from __future__ import annotations

import re

import pytest

from cimtrain import dataset, gen_fwconst
from cimtrain.bridge import protocol

ROOT = gen_fwconst.ROOT


def test_generated_blocks_are_fresh():
    assert gen_fwconst.main(["--check"]) == 0, "run `python -m cimtrain.gen_fwconst`"


@pytest.mark.parametrize("rel", sorted(gen_fwconst.OUTPUTS))
def test_a_hand_edit_is_stale(rel):
    src, gen = gen_fwconst.OUTPUTS[rel]
    text = (ROOT / rel).read_text()
    # bump the first generated const() value by one
    edited, n = re.subn(r"(= const\()(0x[0-9A-F]+|\d+)\)",
                        lambda m: f"{m[1]}{int(m[2], 0) + 1})", text, count=1)
    assert n == 1 and edited != text
    assert gen_fwconst.render(edited, src, gen) == text


def test_values_against_their_sources():
    """Independent of the generator: the generated names read back from the files."""
    ring = (ROOT / "firmware" / "hal_ring.py").read_text()
    got = dict(re.findall(r"^_BR_(\w+) = const\((0x[0-9A-Fa-f]+|\d+)\)", ring, re.M))
    assert {"MAGIC", "VERSION", "H_HEAD", "H_DONE_SEQ", "OP_WRITE", "OP_READ"} <= set(got)
    consts = protocol.constants()
    assert all(int(v, 0) == consts[k] for k, v in got.items())
    mnist = (ROOT / "firmware" / "mnist.py").read_text()
    off = {k: int(v) for k, v in re.findall(r"^_H_(\w+) = const\((\d+)\)", mnist, re.M)}
    # offsets from the writer's struct format, field by field
    assert off == {"MAGIC": 0, "VERSION": 4, "HEADER_SIZE": 6, "COUNT": 8, "ROWS": 12,
                   "COLS": 14, "PAYLOAD_CRC": 16, "FIRST": 20, "SPLIT": 24, "HEADER_CRC": 28}
    assert dataset.HEADER.format == "<4sHHIHHIIB3xI" and dataset.HEADER.size == 32


def test_a_name_the_source_lacks_is_an_error():
    with pytest.raises(SystemExit, match="_BR_NO_SUCH"):
        gen_fwconst.gen_bridge("x = _BR_NO_SUCH_NAME\n")
