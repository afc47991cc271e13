// Tests that --load-dialect-plugin adds the plugin's dialect to the context
// of compress-opt and compress-run: its ops parse with the plugin and not
// without it (compress-run then fails later, lowering an op that has no
// lowering).
// RUN: compress-opt %s --load-dialect-plugin=%test_dialect_plugin | FileCheck %s
// RUN: not compress-opt %s 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not compress-run %s --load-dialect-plugin=%test_dialect_plugin --output-dir %t 2>&1 | FileCheck %s --check-prefix=PARSED
// RUN: not compress-run %s --output-dir %t 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// CHECK-LABEL: func.func @main
// CHECK: "compress_test.mark"(%{{.*}}) : (tensor<2xf32>) -> ()
// UNKNOWN: error: operation being parsed with an unregistered dialect
// PARSED: compress-run: error: lowering to LLVM failed
func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
  "compress_test.mark"(%x) : (tensor<2xf32>) -> ()
  return %x : tensor<2xf32>
}
