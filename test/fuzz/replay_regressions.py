"""Replays the inputs fuzz targets once failed on (test/fuzz/regressions/TARGET/) through the tools users run:
onnx-import inputs through compress-opt as .onnx files, dialect-parse inputs as .mlir, npy inputs (first byte
picks .npy or .npz, as in FuzzNpy.cpp) as the input of a one-op model run by compress-run. Each must end in an
error (exit 1 and an `error:` line), never a crash or success. Usage: replay_regressions.py REGRESSIONS TMP"""
import subprocess
import sys
from pathlib import Path

regressions, tmp = Path(sys.argv[1]), Path(sys.argv[2])
tmp.mkdir(parents=True, exist_ok=True)
model = tmp / "identity.mlir"
model.write_text('func.func @main(%x: tensor<2xf32> {compress.name = "x"}) -> (tensor<2xf32> {compress.name = "y"}) {\n'
                 "  return %x : tensor<2xf32>\n}\n")
failures, count = [], 0
for case in sorted(regressions.glob("*/*")):
    data = case.read_bytes()
    target = case.parent.name
    if target == "onnx-import":
        path = tmp / f"{case.stem}.onnx"
        path.write_bytes(data)
        cmd = ["compress-opt", str(path), "-o", str(tmp / "out.mlir")]
    elif target == "dialect-parse":
        path = tmp / f"{case.stem}.mlir"
        path.write_bytes(data)
        cmd = ["compress-opt", str(path), "-o", str(tmp / "out.mlir")]
    elif target == "npy":
        path = tmp / (f"{case.stem}.npz" if data[:1] == b"\1" else f"{case.stem}.npy")
        path.write_bytes(data[1:])
        cmd = ["compress-run", str(model), f"--input=x={path}", "--output-dir", str(tmp / "out")]
    else:
        failures.append(f"{case}: no replay for target '{target}'")
        continue
    count += 1
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 1 or "error:" not in done.stderr:
        failures.append(f"{case}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
print(f"{count} reproducers replayed, {len(failures)} failed")
for f in failures:
    print("FAILED", f)
sys.exit(1 if failures else 0)
