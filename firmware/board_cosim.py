"""Board configuration of the virtual board (MicroPython unix port + bridge server).

The launcher (python -m cimtrain.bridge.launch) maps the bridge window at the macro's
base address and imports this module as ``board``; hal.py then speaks the request-ring
protocol over that window (hal_ring.py, docs/bridge.md) to the model server or the RTL
server.
"""

from cim_regs import CIM_BASE

BACKEND = "ring"        # request ring in the shared-memory window at BASE
BASE = CIM_BASE         # where the launcher mapped the window
RESPONSE_MS = 60000     # wall-clock cap on one server response; a dead server is
                        # reported within seconds by the launcher's watchdog instead
SPIN = 400              # polls of a response before sleeping between polls
SLEEP_US = 20           # first sleep between polls after SPIN, doubling up to
SLEEP_MAX_US = 50       # this: a response is seen at most this late (the launcher sets
                        # a 1 us timer slack, so a sleep is as long as asked); a longer
                        # cap saved CPU but cost the RTL server ~100 us a round trip
CHIP_IMAGE = True       # the array's state does not outlive the server: a checkpoint asks
                        # the server for a chip image (SIM_SNAPSHOT, firmware/ckpt.py)


def bus():
    """The HAL transport of this board (hal.py calls it once, at import)."""
    import hal_ring
    return hal_ring.Ring(BASE)
