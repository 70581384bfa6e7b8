"""The simulator side: cim_macro in a simulator under cocotb, as host tools use it.

- ``sim``          the one build and run of an HDL top under cocotb (top, preset, SIM, WAVES)
- ``xact``         the program/log layout of the HDL transactor and recorder (one source:
                   ``cim_tb_xact.vh`` is generated from it)
- ``cim_tb_top.v`` the RTL server's top: cim_macro, HDL clock, transactor, recorder
- ``tb``           cocotb: driver, monitor, model scoreboard (``CimTb``, ``XactTb``)
- ``rtl_server``   the RTL server's command line (``python -m cimtrain.cosim.rtl_server``)

cocotb modules, run inside the simulator by the tools above (imported by dotted name):

- ``serve``        the RTL server (``make cosim``, the bridge tests and bench)
- ``replay_rtl``   ``python -m cimtrain.bridge.replay --rtl``
- ``floor_bench``  ``python -m cimtrain.bridge.bench --floor``
- ``vmm_bench``    ``make bench``'s Icarus VMM figures

The macro's own cocotb tests are in tests/cocotb/ (run by tests/test_cim_macro.py).
Importing this package imports no cocotb; ``tb`` and the cocotb modules need a simulator.
"""
