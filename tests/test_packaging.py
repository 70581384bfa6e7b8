"""Packaging (issue 12): the wheel carries what a run needs (the C bridge source, the
firmware, the RTL) and the `cimtrain` command; pyproject.toml declares every third-party
package the host code imports.

The wheel test installs the wheel into a fresh venv, with the dependencies taken from
this venv (a path file: no download; 36 s measured).  CIMTRAIN_WHEEL_FULL=1 also installs the
wheel with its declared dependencies from the package index into another fresh venv
(pins from requirements.txt; measured 2 to 4.5 minutes on 2 shared cores with a warm pip
cache, so opt-in).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from cimtrain import paths

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "host_tools" / "cimtrain"
# imports that only run inside MicroPython (bridge/mp_boot.py and the firmware)
MICROPYTHON = {"micropython", "uctypes", "machine", "micropython_module"} | {
    p.stem for p in (ROOT / "firmware").glob("*.py")}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0]) for d in meta["dependencies"]}


def _imports() -> dict[str, Path]:
    """Top-level module names the host code imports (absolute imports only)."""
    out: dict[str, Path] = {}
    for f in HOST.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(), filename=str(f))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                out.setdefault(n.split(".")[0], f)
    return out


def test_declared_dependencies_cover_the_imports():
    providers = md.packages_distributions()
    declared = _declared()
    missing = []
    for mod, where in sorted(_imports().items()):
        if mod in sys.stdlib_module_names or mod == "cimtrain" or mod in MICROPYTHON:
            continue
        dists = {_norm(d) for d in providers.get(mod, [])}
        if not dists:
            missing.append(f"{mod} ({where.relative_to(ROOT)}): no installed package "
                           "provides it")
        elif not dists & declared:
            missing.append(f"{mod} ({where.relative_to(ROOT)}): from {sorted(dists)}, not "
                           "in pyproject.toml's dependencies")
    assert not missing, "\n".join(missing)
    # and the check can fail: numpy is imported and declared; drop it and it must be found
    assert "numpy" in declared and "numpy" in _imports()


def test_the_console_command_lists_its_commands():
    exe = Path(sys.executable).parent / "cimtrain"
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for cmd in ("cosim", "train", "report", "bench", "pack", "flash"):
        assert f"\n  {cmd} " in r.stdout, r.stdout
    r = subprocess.run([str(exe), "nosuch"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown command 'nosuch'" in r.stderr


def _wheel(tmp: Path) -> Path:
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(out),
                    str(ROOT)], check=True, timeout=300)
    [whl] = out.glob("cimtrain-*.whl")
    return whl


def _run_model_cosim(python: Path, work: Path) -> dict:
    """`cimtrain cosim --backend model` on a few images from the venv of ``python``, in
    ``work`` (not a checkout: an installed package writes there); returns its JSON."""
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "CIMTRAIN_HOME", "N_TRAIN", "N_TEST", "BACKEND")}
    probe = subprocess.run([str(python), "-c", "import cimtrain.paths as p; "
                            "print(p.CHECKOUT, p.PKG, p.ROOT)"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
    checkout, pkg, root = probe.stdout.split()
    assert checkout == "False" and Path(pkg).is_relative_to(python.parents[1]), probe.stdout
    assert Path(root) == work.resolve()
    exe = python.parent / "cimtrain"
    r = subprocess.run([str(exe), "cosim", "--backend", "model", "--preset", "seed-chip",
                        "--n-train", "4", "--n-test", "4"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((work / "results" / "cosim.json").read_text())
    # the firmware shipped in the wheel was compiled here, and the bridge's C source too
    from cimtrain import fwbuild  # what it leaves as source or out on purpose
    shipped = {p.stem for p in (Path(pkg) / "_firmware").glob("*.py")}
    built = {p.stem for p in (work / "build" / "firmware").glob("*.mpy")}
    assert "train" in shipped and shipped - fwbuild.NOT_BUILT - {"main"} <= built, \
        sorted(shipped - built)
    assert (work / "build" / "firmware" / fwbuild.ENTRY).is_file()
    assert list((work / "build" / "bridge").rglob("_cimbridge*.so"))
    # the run folder, with its figures, and the report command on it
    latest = work / "results" / "latest"
    assert json.loads((latest / "cosim.json").read_text()) == res
    assert (latest / "accuracy.png").is_file() and (latest / "writes.png").is_file()
    r = subprocess.run([str(exe), "report", "results/latest", "--out", "cmp.png"], cwd=work,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and (work / "cmp.png").is_file(), r.stderr
    return res


def test_wheel_runs_the_model_backend(tmp_path):
    whl = _wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    # the pinned dependencies of this venv (a path entry: this venv's own .pth files,
    # among them the editable cimtrain, are not run by it)
    Path(site, "pinned-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", "--no-index", "--disable-pip-version-check", str(whl)],
                   check=True, timeout=300)
    res = _run_model_cosim(py, tmp_path / "work")
    assert (res["backend"], res["images_trained"], res["n_test"]) == ("model", 4, 4)


@pytest.mark.skipif(not os.environ.get("CIMTRAIN_WHEEL_FULL"),
                    reason="installs the declared dependencies from the package index "
                           "(2-5 min): set CIMTRAIN_WHEEL_FULL=1")
def test_wheel_with_its_dependencies_from_the_index(tmp_path):
    whl = _wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(whl), "-c", str(ROOT / "requirements.txt")], check=True, timeout=1200)
    res = _run_model_cosim(py, tmp_path / "work")
    assert (res["backend"], res["images_trained"]) == ("model", 4)


def test_this_checkout_is_found():
    assert paths.CHECKOUT and paths.ROOT == ROOT and paths.FIRMWARE == ROOT / "firmware"


def test_firmware_build_without_firmware_is_an_error(monkeypatch, tmp_path):
    """An install without the firmware used to 'build' 0 files and say it had built it."""
    from cimtrain import fwbuild
    monkeypatch.setattr(fwbuild, "SRC", tmp_path / "nofirmware")
    with pytest.raises(SystemExit, match="no firmware in .*nofirmware .*train.py missing"):
        fwbuild.build(tmp_path / "out")
