"""What the end-to-end checks share: running compress-run on numpy inputs, and relative error."""
import subprocess
from pathlib import Path

import numpy as np


def compress_run(tool: Path, model: Path, passes: str, feeds: dict, out: Path,
                 calibration: Path | None = None) -> dict:
    """Runs `model` with `passes` on `feeds` in the new folder `out`; returns its outputs by name."""
    out.mkdir(parents=True)
    inputs = []
    for name, value in feeds.items():
        np.save(out / f"in_{name}.npy", value)
        inputs.append(f"--input={name}={out / f'in_{name}.npy'}")
    extra = [f"--calibration={calibration}"] if calibration else []
    cmd = [str(tool), str(model), *([f"--passes={passes}"] if passes else []), *extra, *inputs,
           "--output-dir", str(out / "out")]
    subprocess.run(cmd, check=True)
    return {p.stem: np.load(p) for p in (out / "out").glob("*.npy")}


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    """||got - want|| / ||want|| in float64."""
    return float(np.linalg.norm(got.astype(np.float64) - want) / max(np.linalg.norm(want), 1e-30))
