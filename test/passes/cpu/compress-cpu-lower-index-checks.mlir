// RUN: compress-opt %s --compress-cpu-lower-index-checks | FileCheck %s

// Tests that a checked index wraps when negative, calls the runtime with the
// index, the extent and the site's number when still out of range, and is
// replaced by 0 then; the sites are recorded in order on the module.
// CHECK: module attributes {compress.index_sites = ["node 'a' (Gather)", "node 'b' (Gather)"]}
// CHECK: func.func private @compress_rt_index_out_of_range(i64, i64, i64)
// CHECK-LABEL: func.func @two_checks
// CHECK-SAME: (%[[I:.*]]: index, %[[N:.*]]: index)
// CHECK: %[[ZERO:.*]] = arith.constant 0 : index
// CHECK: %[[NEG:.*]] = arith.cmpi slt, %[[I]], %[[ZERO]]
// CHECK: %[[PLUS:.*]] = arith.addi %[[I]], %[[N]]
// CHECK: %[[WRAPPED:.*]] = arith.select %[[NEG]], %[[PLUS]], %[[I]]
// CHECK: %[[BAD:.*]] = arith.cmpi uge, %[[WRAPPED]], %[[N]]
// CHECK: scf.if %[[BAD]] {
// CHECK: %[[SITE:.*]] = arith.constant 0 : i64
// CHECK: func.call @compress_rt_index_out_of_range(%{{.*}}, %{{.*}}, %[[SITE]])
// CHECK: }
// CHECK: %[[FIRST:.*]] = arith.select %[[BAD]], %[[ZERO]], %[[WRAPPED]]
// CHECK: arith.constant 1 : i64
// CHECK: return %[[FIRST]], %{{.*}}
func.func @two_checks(%i: index, %n: index) -> (index, index) {
  %0 = compress.check_index %i, %n {site = "node 'a' (Gather)"}
  %1 = compress.check_index %i, %n {site = "node 'b' (Gather)"}
  return %0, %1 : index, index
}
