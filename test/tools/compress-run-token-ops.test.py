"""numpy reference for compress-run-token-ops.test."""
import sys

import numpy as np

x = np.load(sys.argv[1])[0].astype(np.float64)
out = sys.argv[2]
r = np.array([1.0, -1.0, 0.5, 0.0])
w = np.array([[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.5]])
rms = np.sqrt((x * x).mean(axis=1) + 1e-6)
score = x @ r / rms
kept = []
for name, threshold in (("all", -np.inf), ("some", 0.0), ("none", np.inf)):
    keep = score >= threshold
    want = np.where(keep[:, None], x @ w.T, 0.0)
    got = np.load(f"{out}/{name}.npy")[0]
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-5), (name, got, want)
    kept.append(int(keep.sum()))
some = score >= 0.0
merged = np.load(f"{out}/merged.npy")[0]
assert np.array_equal(merged, np.where(some[:, None], -x, x).astype(np.float32)), merged
by_scale = score + 4.0 * np.log(rms) >= -1.0
assert by_scale.any() and not by_scale.all() and (by_scale != some).any(), (by_scale, some)
scaled = np.load(f"{out}/scaled.npy")[0]
assert np.array_equal(scaled, np.where(by_scale[:, None], -x, x).astype(np.float32)), scaled
print(f"kept {kept[0]} / {kept[1]} / {kept[2]} tokens of 6, {int(by_scale.sum())} with the scale term: "
      "outputs match numpy")
