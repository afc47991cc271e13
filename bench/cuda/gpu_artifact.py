"""The step every GPU-machine build script shares: compress-compile a model for
the CUDA target, then relink its code as a libm.so that loads the shared
runtime (bench/cuda/gpu_runtime_lib.sh's libcompress_rt.so) by name, so that
only the model's own code and weights travel with each case."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compile_for_gpu(model: Path, so_path: Path, lib_dir: Path, flags: list[str], work: Path) -> Path:
    """Compiles `model` with compress-compile --target=cuda and `flags` into WORK/art, links SO_PATH against
    LIB_DIR's runtime, and returns the weights file (left in WORK/art for the caller to move)."""
    art = Path(work) / "art"
    art.parent.mkdir(parents=True, exist_ok=True)  # compress-compile makes its scratch folder beside art
    subprocess.run([os.environ.get("COMPRESS_COMPILE", str(ROOT / "build" / "bin" / "compress-compile")), str(model), "--target=cuda",
                    "--name", "m", "-o", str(art), *flags], check=True)
    subprocess.run(["ar", "x", "libm.a"], cwd=art, check=True)
    so_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-shared", "-o", str(so_path), "m.o", "m_model.o", f"-L{Path(lib_dir).resolve()}",
                    "-lcompress_rt"], cwd=art, check=True)
    return art / "m.weights"
