"""Digests of the training state at the end of a run (train.py ``digest=1``; make cosim's
``state_digest``), in a module of their own: a board loads it only when asked, so its
code takes no heap during training (the 128 KiB virtual-seed board has little to spare).

    from digest import digest_state
    acc, g, state = digest_state(net, train.fnv)

The host trainer computes the same digests (host_tools/cimtrain/trainer/loop.py
``digests``); tests/test_trainer_bitexact.py compares them.
"""


def digest_state(net, fnv):
    """FNV digests of the accumulators, and (through the debug backdoor) of the
    conductances and write counters of every cell the network uses; and ``state``, one
    digest of the three (results' state_digest: two runs compared from outside)."""
    import hal
    from cim_regs import CTRL_DBG_EN_MSK, R_CTRL, R_DBG_ADDR, R_DBG_G, R_DBG_WC, pack_dbg_addr
    ha = 0x811C9DC5
    for L in net.layers:
        for v in L.acc:
            ha = fnv(ha, v)
    hg = hw = 0x811C9DC5
    hal.wr32(R_CTRL, hal.rd32(R_CTRL) | CTRL_DBG_EN_MSK)
    for L in net.layers:
        for b in L.blocks:
            for i in range(b.nr):
                hal.wr32(R_DBG_ADDR, pack_dbg_addr(col=b.tc0, row=i, tile=b.tile))
                words = hal.rd_burst(R_DBG_G, b.nc, fixed=True)
                for w in words:
                    hg = fnv(hg, w)
                for j in range(b.nc):  # DBG_WC does not advance DBG_ADDR
                    hal.wr32(R_DBG_ADDR, pack_dbg_addr(col=b.tc0 + j, row=i, tile=b.tile))
                    hw = fnv(hw, hal.rd32(R_DBG_WC))
    return ha, hg, fnv(fnv(fnv(0x811C9DC5, ha), hg), hw)
