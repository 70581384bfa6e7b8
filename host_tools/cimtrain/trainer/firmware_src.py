"""What the trainer takes from the firmware's own source: one source of truth.

The firmware (firmware/*.py, MicroPython) owns its option names and defaults
(``train.DEFAULTS``), its network specs (``network.LENET5``, ...) and its fixed-point
constants (``fixedpoint.LOGIT_SHIFT``, ``update.REF``, ...).  The trainer reads them
from those files with ``ast`` (literals only, nothing is executed), and runs
firmware/fixedpoint.py itself (``load_module``: its PRNG and tables), so a changed
default or constant in the firmware is the trainer's too, and nothing is copied by hand.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys

from ..paths import FIRMWARE


@functools.cache
def module_constants(name: str) -> dict:
    """Module-level ``NAME = literal`` and ``NAME = const(literal)`` assignments of
    firmware/<name>.py; names bound to other names (``{"a": LENET5}``) are resolved."""
    tree = ast.parse((FIRMWARE / f"{name}.py").read_text(), filename=f"{name}.py")
    env: dict = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id == "const" and len(value.args) == 1):
            value = value.args[0]
        try:
            env[node.targets[0].id] = _eval(value, env)
        except ValueError:
            continue  # computed at import (tables, functions): not a literal
    return env


def _eval(node: ast.AST, env: dict):
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise ValueError(node.id)
    if isinstance(node, ast.Dict):
        return {_eval(k, env): _eval(v, env) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e, env) for e in node.elts)
    if isinstance(node, ast.List):
        return [_eval(e, env) for e in node.elts]
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise ValueError(ast.dump(node)) from None


def defaults() -> dict:
    """firmware/train.py DEFAULTS: option names and default values."""
    return dict(module_constants("train")["DEFAULTS"])


def networks() -> dict:
    """firmware/network.py NETWORKS: name -> layer specs."""
    return dict(load_module("network").NETWORKS)


def constant(module: str, name: str):
    return module_constants(module)[name]


# The firmware modules the host can run as they are, and the firmware modules each
# imports by its bare name (MicroPython's flat module space).
_LOADABLE = {"fixedpoint": (), "loops": ("fixedpoint",), "network": ("fixedpoint", "loops")}


@functools.cache
def load_module(name: str):
    """firmware/<name>.py imported as a private module (not on sys.path): the host runs
    the firmware's own code (fixedpoint: PRNG, tables; network: the tile map).  The
    bare-name imports between firmware modules are served for the duration of the
    import only, so nothing named ``fixedpoint`` stays in sys.modules."""
    if name not in _LOADABLE:
        raise ValueError(f"firmware/{name}.py is not loadable on the host: {sorted(_LOADABLE)}")
    deps = {d: load_module(d) for d in _LOADABLE[name]}
    saved = {d: sys.modules.get(d) for d in deps}
    sys.modules.update(deps)
    try:
        spec = importlib.util.spec_from_file_location(f"cimtrain._firmware_{name}",
                                                      FIRMWARE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        for d, m in saved.items():
            if m is None:
                sys.modules.pop(d, None)
            else:
                sys.modules[d] = m
    return mod
