"""Checks compress-drop-blocks against models nobody here compressed: llama_block.py draws its weights block after
block from one seed, so its 3-block model without the last block is its 2-block model. compress-run on the 3-block
model with `compress-drop-blocks{blocks=2}` must match onnxruntime on the 2-block model (without and with a key/value
cache: the dropped block's past and present tensors leave the interface), and dropping block 1 instead must leave
blocks 0 and 2's cache tensors. The 3-block model outlined (compress-outline-blocks, one function per block) computes
what the flat model does, bit for bit, and what onnxruntime does."""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
from compress_models import llama_block  # noqa: E402
from compress_models.minilm import save  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_tools import compress_run, rel_err  # noqa: E402

HIDDEN, HEADS, INTERMEDIATE = 64, 4, 96
TOKENS, PAST = 5, 6




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compress-run", type=Path, default=ROOT / "build" / "bin" / "compress-run")
    args, _ = ap.parse_known_args()
    rng = np.random.default_rng(5)
    hidden = rng.standard_normal((1, TOKENS, HIDDEN), dtype=np.float32)
    past = {f"past_{kind}.{i}": rng.standard_normal((1, HEADS, PAST, HIDDEN // HEADS), dtype=np.float32)
            for i in range(3) for kind in ("key", "value")}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kv in (False, True):
            models = {}
            for blocks in (2, 3):
                models[blocks] = tmp / f"b{blocks}{'kv' if kv else ''}.onnx"
                save(llama_block.build_model(blocks=blocks, hidden=HIDDEN, heads=HEADS, intermediate=INTERMEDIATE,
                                             kv_cache=kv), models[blocks], external_data=True)
            feeds2 = {"hidden": hidden, **({k: v for k, v in past.items() if not k.endswith(".2")} if kv else {})}
            feeds3 = {"hidden": hidden, **(past if kv else {})}
            label = "with a cache" if kv else "without a cache"
            full = ort.InferenceSession(str(models[3]))
            names3 = [o.name for o in full.get_outputs()]
            want3 = dict(zip(names3, full.run(names3, feeds3)))
            flat = compress_run(args.compress_run, models[3], "compress-find-blocks", feeds3, tmp / f"flat{kv}")
            outlined = compress_run(args.compress_run, models[3], "compress-outline-blocks", feeds3,
                                    tmp / f"outlined{kv}")
            if sorted(outlined) != sorted(names3):
                failures.append(f"outlined, {label}: outputs {sorted(outlined)}, onnxruntime's {sorted(names3)}")
            for name in set(outlined) & set(names3):
                if not np.array_equal(outlined[name], flat[name]):
                    failures.append(f"outlined, {label}: {name} differs from the flat model's")
                if (err := rel_err(outlined[name], want3[name])) > 1e-5:
                    failures.append(f"outlined, {label}: {name} relative error {err:.2e} against onnxruntime")
            session = ort.InferenceSession(str(models[2]))
            names = [o.name for o in session.get_outputs()]
            want = dict(zip(names, session.run(names, feeds2)))
            report = tmp / f"report{kv}.json"
            got = compress_run(args.compress_run, models[3], f"compress-drop-blocks{{blocks=2 report={report}}}",
                               feeds2, tmp / f"out{kv}")
            if sorted(got) != sorted(want):
                failures.append(f"{label}: outputs {sorted(got)}, the 2-block model's {sorted(want)}")
            for name in set(got) & set(want):
                if (err := rel_err(got[name], want[name])) > 1e-5:
                    failures.append(f"{label}: {name} relative error {err:.2e} against the 2-block model")
            doc = json.loads(report.read_text())
            if doc["remaining"] != [0, 1]:
                failures.append(f"{label}: report says blocks {doc['remaining']} remain")
            if kv:
                if sorted(doc["removed_arguments"]) != ["past_key.2", "past_value.2"]:
                    failures.append(f"removed arguments {doc['removed_arguments']}")
                # Block 1 dropped: blocks 0 and 2 keep their cache tensors, which are the 3-block model's.
                feeds = {k: v for k, v in feeds3.items() if ".1" not in k}
                got = compress_run(args.compress_run, models[3], "compress-drop-blocks{blocks=1}", feeds,
                                   tmp / "out_middle")
                expected = sorted(n for n in names3 if ".1" not in n)
                if sorted(got) != expected:
                    failures.append(f"block 1 dropped: outputs {sorted(got)}, expected {expected}")
                elif (err := rel_err(got["present_key.0"], want3["present_key.0"])) > 1e-5:
                    failures.append(f"block 1 dropped: block 0's cache changed ({err:.2e})")
                elif np.allclose(got["present_key.2"], want3["present_key.2"], rtol=1e-3):
                    failures.append("block 1 dropped: block 2's keys did not change")
    for failure in failures:
        print("FAIL:", failure)
    print("compress-drop-blocks:", "failed" if failures else
          "passed (last block dropped = 2-block model without and with a cache; interface of a middle drop; "
          "outlined blocks = flat model)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
