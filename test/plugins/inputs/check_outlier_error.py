"""Checks outlier-aware-quantize's output against the float model's: its
relative error is small and at most a quarter of plain RTN's (same bits and
groups). Usage: check_outlier_error.py EXPECTED.npy OUTLIER.npy RTN.npy"""
import sys

import numpy as np

expected, outlier, rtn = (np.load(f) for f in sys.argv[1:4])
error = lambda y: float(np.linalg.norm(y - expected) / np.linalg.norm(expected))
e_outlier, e_rtn = error(outlier), error(rtn)
print("relative error: outlier-aware %.4f, rtn %.4f" % (e_outlier, e_rtn))
assert e_outlier < 0.03, "outlier-aware output error %.4f exceeds 0.03" % e_outlier
assert e_outlier < 0.25 * e_rtn, "outlier-aware error %.4f is not below a quarter of RTN's %.4f" % (
    e_outlier, e_rtn)
