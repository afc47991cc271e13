"""Asserts that the first output is closer to the float reference than the
second (relative error), e.g. GPTQ against RTN: compare_errors.py BETTER WORSE REF."""
import sys

import numpy as np

better, worse, reference = (np.load(p) for p in sys.argv[1:4])
err = lambda y: np.linalg.norm(y - reference) / np.linalg.norm(reference)
assert err(better) < err(worse), (err(better), err(worse))
print(f"{err(better):.4f} < {err(worse):.4f}")
