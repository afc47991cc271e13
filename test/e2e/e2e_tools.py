"""What the end-to-end checks share: running compress-run on numpy inputs, relative error, and printing checks."""
import subprocess
import time
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


class Checks:
    """Prints each check as `ok` or `FAIL` with the seconds since the checks began, and keeps the failures:
    `check = Checks(); check(ok, "what")`; `check.failures`, `check.seconds()`."""

    def __init__(self):
        self.start = time.perf_counter()
        self.failures: list[str] = []

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what} [{self.seconds():.0f} s]", flush=True)
        if not ok:
            self.failures.append(what)
