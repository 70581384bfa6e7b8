"""Co-simulation bridge: the shared-memory window between firmware and a macro server.

- ``protocol``     layout and codes of the window (one source for C, HAL copy, docs); the
                   servers' record decoder
- ``cbridge.h``    the C library's API (also the cffi cdef); ``cbridge.c`` its code: window
                   lifecycle, ring, completions, watchdog
- ``build``        cffi (API mode) build of it into build/bridge/, on first use
- ``window``       ServerWindow / FirmwareWindow and the BridgeError family
- ``model_server`` the protocol served by the bit-exact Python model
- ``status``       the servers' JSON status file (for the process that started them)
- ``launch``       the virtual-board launcher (MicroPython unix port in-process)
- ``harness``      run firmware against an in-thread model server (tests, tools)

Protocol and usage: docs/bridge.md.
"""

from .window import (
    AddressTakenError,
    BridgeError,
    BridgeTimeout,
    BusError,
    DeviceTimeout,
    FirmwareWindow,
    NoWindowError,
    PeerError,
    ProtocolError,
    ServerWindow,
    StaleWindowError,
    VersionError,
    WindowInUseError,
)

__all__ = ["AddressTakenError", "BridgeError", "BridgeTimeout", "BusError", "DeviceTimeout",
           "FirmwareWindow", "NoWindowError", "PeerError", "ProtocolError", "ServerWindow",
           "StaleWindowError", "VersionError", "WindowInUseError"]
