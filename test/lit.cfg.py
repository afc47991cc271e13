# lit configuration for CompressIR's FileCheck tests.
import os
import shutil

import lit.formats

config.name = "CompressIR"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".onnxtext", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.compress_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "e2e", "inputs"]

config.environment["PATH"] = os.pathsep.join(
    [os.path.join(config.compress_obj_root, "bin"), config.llvm_tools_dir,
     config.environment.get("PATH", "")])
# %onnx-build turns a textual ONNX model (onnx.parser syntax) into a .onnx file.
config.substitutions.append(
    ("%onnx-build", "%s %s" % (config.python_executable,
                               os.path.join(config.compress_src_root, "test", "onnxtext_to_onnx.py"))))
config.substitutions.append(("%python", config.python_executable))
# The example pass plugin (examples/outlier-quantize) and a dialect plugin,
# built in the tree.
config.substitutions.append(
    ("%outlier_quantize_plugin",
     os.path.join(config.compress_obj_root, "lib", "libOutlierQuantize.so")))
config.substitutions.append(
    ("%test_dialect_plugin",
     os.path.join(config.compress_obj_root, "lib", "libCompressTestDialectPlugin.so")))

# The CUDA toolkit, for compile-only checks of the GPU code (no test here
# needs a GPU: kernels run on a lent one through bench/cuda/run_h200.sh).
config.substitutions.append(("%src_root", config.compress_src_root))
nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
if os.access(nvcc, os.X_OK):
    config.available_features.add("nvcc")
    config.substitutions.append(("%nvcc", nvcc))
# A GPU driver, for the tests that run on a GPU (reported unsupported, never
# passed, where there is none).
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
# Headless Chromium (Debian's chromium, which scripts/setup.sh does not
# install: its download would cost CI a minute or two), for opening the
# report page; its test is unsupported, never passed, where it is missing.
chromium = shutil.which("chromium")
if chromium:
    config.available_features.add("chromium")
    config.substitutions.append(
        ("%chromium", "timeout 120 %s --headless --no-sandbox --disable-gpu --enable-logging=stderr "
                      "--v=0 --window-size=1200,900" % chromium))
