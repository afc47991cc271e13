"""The decode step's inputs, drawn from one seed both here (the CPU reference) and on the GPU machine (the run), so
that 17 MB of cache need not travel: a new token's hidden state and a 512-position key/value cache, float32."""
import numpy as np

HIDDEN, HEADS, HEAD_DIM = 4096, 32, 128
CACHE = 512
PASSES = "compress-quantize{bits=4 group-size=128}"
SHAPES = {"hidden": (1, 1, HIDDEN), "past_key.0": (1, HEADS, CACHE, HEAD_DIM),
          "past_value.0": (1, HEADS, CACHE, HEAD_DIM)}
SEED = 512


def block_decode_inputs() -> dict[str, np.ndarray]:
    """hidden ~ N(0, 1); cache entries ~ N(0, 1) (rotated keys and values of order one, as the block's own
    projections give)."""
    rng = np.random.default_rng(SEED)
    return {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in SHAPES.items()}
