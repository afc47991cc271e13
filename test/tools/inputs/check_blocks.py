"""Checks compress-find-blocks' and compress-drop-blocks' reports on a llama_block.py stack against onnxruntime:
the hidden states after every block (each block's last residual Add, exposed as graph outputs) on the calibration
sets give, in numpy, each block's Block Influence (1 - the mean cosine similarity over tokens of its input and
output) and the change of removing the last block (1 - the cosine similarity of the last two states); the drop
report must remove the block of least influence.
Usage: check_blocks.py MODEL.onnx CALIBRATION_DIR FIND_REPORT.json DROP_REPORT.json"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def cosine_per_token(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(-1, a.shape[-1]).astype(np.float64)
    b = b.reshape(-1, b.shape[-1]).astype(np.float64)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def main() -> int:
    model_path, calibration, find_report, drop_report = map(Path, sys.argv[1:5])
    model = onnx.load(str(model_path))
    ends = {}
    for node in model.graph.node:  # the last Add of each block's scope is its output
        if node.op_type == "Add" and node.name.startswith("/model/layers."):
            ends[int(node.name.split("/")[2].split(".")[1])] = node.output[0]
    states = [ends[i] for i in sorted(ends)]
    model.graph.output.extend([onnx.ValueInfoProto(name=s) for s in states if s != "output"])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    sums, removal, tokens = np.zeros(len(states)), 0.0, 0
    for folder in sorted(calibration.iterdir()):
        hidden = np.load(folder / "hidden.npy")
        outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"hidden": hidden})))
        chain = [hidden] + [outputs[s] for s in states]
        for i in range(len(states)):
            sums[i] += cosine_per_token(chain[i], chain[i + 1]).sum()
        removal += cosine_per_token(chain[-1], chain[-2]).sum()
        tokens += hidden.size // hidden.shape[-1]
    influence = 1 - sums / tokens
    found = json.loads(find_report.read_text())["blocks"]
    failures = []
    if len(found) != len(states):
        failures.append(f"{len(found)} blocks found, the model has {len(states)}")
    got = np.array([b["influence"] for b in found])
    if not np.allclose(got, influence, rtol=1e-3, atol=1e-6):
        failures.append(f"influence {got} != onnxruntime's {influence}")
    if not np.isclose(found[-1]["removal"], 1 - removal / tokens, rtol=1e-3, atol=1e-6):
        failures.append(f"removal of the last block {found[-1]['removal']} != onnxruntime's {1 - removal / tokens}")
    dropped = [b["index"] for b in json.loads(drop_report.read_text())["blocks"] if b["dropped"]]
    if dropped != [int(np.argmin(influence))]:
        failures.append(f"dropped {dropped}, the block of least influence is {int(np.argmin(influence))}")
    for f in failures:
        print("FAIL:", f)
    print("blocks:", "failed" if failures else f"passed (influence {np.round(influence, 4).tolist()})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
