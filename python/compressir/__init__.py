"""CompressIR from Python: load an ONNX model, compress it with a pass pipeline (calibration data as numpy arrays),
compile it and run it on numpy arrays, package an artifact or export it back to ONNX.

    import compressir
    model = compressir.load("model.onnx", input_shapes={"input_ids": [1, 128]})
    report = model.compress("compress-quantize{bits=4 group-size=128 method=gptq}",
                            calibration=[{"input_ids": ids} for ids in windows])
    logits = model.compile(num_threads=2).run({"input_ids": ids})["logits"]

The passes, their options and the reports are those of the command-line tools (`compress-opt
--list-compression-passes`, docs/reports.md); errors are theirs too, raised as RuntimeError.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from . import _native

__all__ = ["load", "Model", "CompiledModel"]


def load(path: str | os.PathLike, input_shapes: Mapping[str, Iterable[int]] | None = None) -> "Model":
    """Imports an ONNX model (or parses an .mlir module). `input_shapes` fixes graph inputs' shapes, as
    --input-shape does (-1 keeps a dimension dynamic)."""
    return Model(path, input_shapes)


class Model:
    """A model in the compiler: imported, compressed by `compress`, not yet compiled."""

    def __init__(self, path: str | os.PathLike, input_shapes: Mapping[str, Iterable[int]] | None = None):
        shapes = {name: [int(d) for d in dims] for name, dims in (input_shapes or {}).items()}
        self._native = _native.Model(str(path), shapes)
        self.reports: list[dict] = []

    def compress(self, passes: str, calibration=None, num_threads: int = 0) -> list[dict]:
        """Runs `passes` (MLIR pass-pipeline syntax, as --passes) and returns the reports the passes made (also kept
        in `reports`). `calibration`: None, a folder as --calibration takes, or an iterable of dicts mapping each
        model input's name to a numpy array, one calibration set per dict."""
        if calibration is None or isinstance(calibration, (str, os.PathLike)):
            made = self._native.compress(passes, str(calibration or ""), num_threads)
        else:
            with tempfile.TemporaryDirectory(prefix="compressir-calibration-") as folder:
                count = 0
                for count, inputs in enumerate(calibration, 1):
                    set_dir = Path(folder) / f"set{count:06d}"
                    set_dir.mkdir()
                    for name, value in inputs.items():
                        np.save(set_dir / f"{name}.npy", np.ascontiguousarray(value))
                if not count:
                    raise ValueError("calibration: no sets given")
                made = self._native.compress(passes, folder, num_threads)
        reports = [json.loads(r) for r in made]
        self.reports.extend(reports)
        return reports

    def compile(self, target: str = "cpu", num_threads: int = 0, precision: str = "f32") -> "CompiledModel":
        """Compiles the model as it now is for this process (the JIT); the model stays usable."""
        return CompiledModel(_native.Compiled(self._native, target, num_threads, precision))

    def save_artifact(self, folder: str | os.PathLike, name: str, target: str = "cpu",
                      precision: str = "f32") -> None:
        """Writes an ahead-of-time artifact as compress-compile does: lib<name>.so, <name>.h, <name>.weights."""
        self._native.package(target, name, str(folder), precision)

    def export_onnx(self, path: str | os.PathLike, external_data: str = "auto", accuracy_level: int = 0) -> None:
        """Writes the model back to ONNX for onnxruntime, as compress-export does (docs/export.md)."""
        self._native.export_onnx(str(path), external_data, accuracy_level)

    @property
    def mlir(self) -> str:
        """The module as text."""
        return self._native.mlir()


class CompiledModel:
    """A compiled model: `run` (or call) on numpy arrays by input name, arrays back by output name."""

    def __init__(self, native):
        self._native = native

    @property
    def inputs(self) -> list[dict]:
        """Each input's name, dtype and shape (None where dynamic)."""
        return self._native.inputs

    @property
    def outputs(self) -> list[dict]:
        return self._native.outputs

    def run(self, inputs: Mapping[str, np.ndarray] | None = None, **named: np.ndarray) -> dict[str, np.ndarray]:
        given = {**(inputs or {}), **named}
        return self._native.run({name: np.ascontiguousarray(value) for name, value in given.items()})

    __call__ = run
