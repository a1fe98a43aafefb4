"""Loader for a lifchip Xylo export (written by `lifchip export-chip CHIPDIR --backend xylo`).

An export directory holds:

- ``spec.npz``: the arguments of Rockpool's Xylo ``config_from_specification``
  (``weights_in`` ``(Nin, Nhidden, 2)``, ``weights_rec`` ``(Nhidden, Nhidden, 2)``,
  ``weights_out`` ``(Nhidden, Nout)``, the three weight shifts, ``dash_mem``, ``dash_syn``,
  ``dash_syn_2``, ``dash_mem_out``, ``dash_syn_out``, ``threshold``, ``threshold_out``,
  ``bias_hidden``/``bias_out`` (used on Xylo v2), ``aliases`` (padded with -1) and ``dt``);
- ``xylo.json``: the Xylo generation, and which lifchip population/neuron each hidden and
  readout neuron is;
- this module.

Use::

    import lifchip_xylo
    spec = lifchip_xylo.load_specification("out.xylo")        # dict of numpy arrays
    config, ok, msg = lifchip_xylo.config_from_export("out.xylo")   # Rockpool + samna
    sim = lifchip_xylo.xylosim_from_export("out.xylo")        # Rockpool XyloSim module
    out, _, rec = sim(raster, record=True)                    # raster: (T, Nin) counts

Rockpool builds hardware configurations through ``samna``. Where the real ``samna`` package
cannot be imported (its PyPI package is an installer that downloads the real one from
SynSense's index on first import), set ``LIFCHIP_XYLO_SAMNA=shim`` (the default ``auto``
does it when it detects the installer stub) and this module puts in plain attribute holders for
the configuration objects, so that Rockpool's own ``config_from_specification`` and
``XyloSim.from_config`` run unchanged; its ``validate_configuration`` is then only this
module's range check (``SHIM_VALIDATOR``), not samna's.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import types
from pathlib import Path

import numpy as np

SHIM_VALIDATOR = "lifchip_xylo shim (ranges only; samna not available)"

_SPEC_KEYS = [
    "weights_in",
    "weights_rec",
    "weights_out",
    "dash_mem",
    "dash_mem_out",
    "dash_syn",
    "dash_syn_2",
    "dash_syn_out",
    "threshold",
    "threshold_out",
]


def read_manifest(export_dir):
    """The export's ``xylo.json`` as a dict."""
    with open(Path(export_dir) / "xylo.json") as f:
        manifest = json.load(f)
    if manifest.get("format") != "lifchip-xylo-export" or manifest.get("version") != 1:
        raise ValueError(f"{export_dir}: not a lifchip Xylo export (version 1)")
    return manifest


def load_specification(export_dir):
    """The keyword arguments of Rockpool's ``config_from_specification`` for this export.

    Biases are included only for Xylo v2 (v1 has none); aliases only if some neuron has one.
    """
    manifest = read_manifest(export_dir)
    arrays = np.load(Path(export_dir) / manifest["spec"])
    spec = {k: arrays[k].astype(int) for k in _SPEC_KEYS}
    for k in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
        spec[k] = int(arrays[k])
    if manifest["generation"] == "v2":
        spec["bias_hidden"] = arrays["bias_hidden"].astype(int)
        spec["bias_out"] = arrays["bias_out"].astype(int)
    aliases = [[int(t) for t in row if t >= 0] for row in arrays["aliases"]]
    if len(aliases) != spec["weights_rec"].shape[0]:
        aliases = [[] for _ in range(spec["weights_rec"].shape[0])]
    spec["aliases"] = aliases if any(aliases) else None
    return spec


def dt_of(export_dir):
    manifest = read_manifest(export_dir)
    return float(np.load(Path(export_dir) / manifest["spec"])["dt"])


# ---------------------------------------------------------------------------------------------
# samna stand-in


class _Holder:
    """A samna configuration object: attributes only."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _reservoir_neuron():
    return _Holder(
        alias_target=None, i_syn_decay=0, i_syn2_decay=0, v_mem_decay=0, threshold=0, v_mem_bias=0
    )


def _output_neuron():
    return _Holder(i_syn_decay=0, v_mem_decay=0, threshold=0, v_mem_bias=0)


def _configuration():
    debug = _Holder(
        isyn_clock_enable=False,
        isyn2_clock_enable=False,
        ra_clock_enable=False,
        bias_clock_enable=False,
        hm_clock_enable=False,
        ram_power_enable=False,
    )
    return _Holder(
        debug=debug,
        bias_enable=False,
        synapse2_enable=False,
        input=_Holder(weights=None, syn2_weights=None, weight_bit_shift=0),
        reservoir=_Holder(
            weights=None, syn2_weights=None, weight_bit_shift=0, aliasing=False, neurons=[]
        ),
        readout=_Holder(weights=None, weight_bit_shift=0, neurons=[]),
    )


def _validate(config):
    """Range checks of the registers (the shim's stand-in for samna's validator)."""
    problems = []

    def check(name, values, lo, hi):
        values = np.asarray(values)
        if values.size and (values.min() < lo or values.max() > hi):
            problems.append(f"{name} outside {lo}..{hi}")

    for part in ("input", "reservoir", "readout"):
        check(f"{part}.weights", getattr(config, part).weights, -128, 127)
        check(f"{part}.weight_bit_shift", getattr(config, part).weight_bit_shift, 0, 7)
    res, out = config.reservoir.neurons, config.readout.neurons
    if len(res) > 1000:
        problems.append(f"{len(res)} hidden neurons (at most 1000)")
    if len(out) > 8:
        problems.append(f"{len(out)} readout neurons (at most 8)")
    if np.shape(config.input.weights)[0] > 16:
        problems.append("more than 16 input channels")
    for name, ns in (("reservoir", res), ("readout", out)):
        check(f"{name} threshold", [n.threshold for n in ns], -32768, 32767)
        check(f"{name} v_mem_decay", [n.v_mem_decay for n in ns], 0, 15)
        check(f"{name} i_syn_decay", [n.i_syn_decay for n in ns], 0, 15)
        check(f"{name} v_mem_bias", [n.v_mem_bias for n in ns], -32768, 32767)
    return (not problems, "; ".join(problems))


class _PlaceholderMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = _PlaceholderMeta(name, (), {})
        setattr(cls, name, placeholder)
        return placeholder


class _ShimModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        # Anything else Rockpool's device modules name at import time (board classes, event
        # types, nested namespaces): an inert placeholder class.
        placeholder = _PlaceholderMeta(name, (), {})
        setattr(self, name, placeholder)
        return placeholder


class _ShimFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "samna" or fullname.startswith("samna."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _ShimModule(spec.name)
        module.__path__ = []
        if spec.name.endswith(".configuration"):
            module.XyloConfiguration = _configuration
            module.ReservoirNeuron = _reservoir_neuron
            module.OutputNeuron = _output_neuron
        if spec.name.startswith("samna.xyloCore"):
            module.validate_configuration = _validate
        if spec.name == "samna":
            module.LIFCHIP_SHIM = True
        return module

    def exec_module(self, module):
        pass


def _real_samna_available():
    found = importlib.util.find_spec("samna")
    if found is None or found.origin is None:
        return False
    try:
        text = Path(found.origin).read_text(errors="replace")
    except OSError:
        return False
    # The PyPI package is an installer that pip-installs the real samna on first import.
    return "install_real_samna" not in text


def use_samna_shim():
    """Whether this process uses the stand-in (decided once, before Rockpool imports samna)."""
    mode = os.environ.get("LIFCHIP_XYLO_SAMNA", "auto")
    if mode == "real":
        return False
    if mode == "shim":
        return True
    return not _real_samna_available()


_SHIM_INSTALLED = False


def _prepare_samna():
    global _SHIM_INSTALLED
    if _SHIM_INSTALLED or "samna" in sys.modules:
        return
    if use_samna_shim():
        sys.meta_path.insert(0, _ShimFinder())
        _SHIM_INSTALLED = True


def samna_is_shim():
    _prepare_samna()
    import samna

    return getattr(samna, "LIFCHIP_SHIM", False)


# ---------------------------------------------------------------------------------------------
# Rockpool


def config_from_export(export_dir):
    """``(config, is_valid, message)`` from Rockpool's ``config_from_specification``.

    Both generations go through Rockpool's Xylo core-2 builder (``syns61201``), the only one in
    Rockpool 3.1; for v1 the biases are left out, and the fields Xylo v1's ``XyloSim`` reads are
    the same.
    """
    _prepare_samna()
    from rockpool.devices.xylo.syns61201.xylo_samna import config_from_specification

    return config_from_specification(**load_specification(export_dir))


def xylosim_from_export(export_dir, output_mode="Spike"):
    """A Rockpool ``XyloSim`` module (v1: ``syns61300``, v2: ``syns61201``) for this export.

    Raises ``ValueError`` if Rockpool's validation refuses the configuration.
    """
    manifest = read_manifest(export_dir)
    config, ok, message = config_from_export(export_dir)
    if not ok:
        raise ValueError(f"{export_dir}: Xylo configuration is not valid: {message}")
    if manifest["generation"] == "v2":
        from rockpool.devices.xylo.syns61201 import XyloSim
    else:
        from rockpool.devices.xylo.syns61300 import XyloSim
    return XyloSim.from_config(config, dt=dt_of(export_dir), output_mode=output_mode)
