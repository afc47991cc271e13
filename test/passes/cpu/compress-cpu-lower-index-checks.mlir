// RUN: compress-opt %s --split-input-file --compress-cpu-lower-index-checks | FileCheck %s

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

// -----

// Tests that a count check becomes a call of the runtime returning whether
// the counts agree, numbered after the index checks.
// CHECK: module attributes {compress.index_sites = ["node 'g' (Gather)", "node 'r' (Reshape)"]}
// CHECK-DAG: func.func private @compress_rt_check_count(i64, i64, i64) -> i1
// CHECK-LABEL: func.func @count_after_index
// CHECK-SAME: (%[[I:.*]]: index, %[[N:.*]]: index, %[[ASKED:.*]]: index, %[[TOTAL:.*]]: index)
// CHECK: func.call @compress_rt_index_out_of_range
// CHECK: %[[SITE:.*]] = arith.constant 1 : i64
// CHECK: %[[A:.*]] = arith.index_cast %[[ASKED]] : index to i64
// CHECK: %[[T:.*]] = arith.index_cast %[[TOTAL]] : index to i64
// CHECK: %[[FITS:.*]] = call @compress_rt_check_count(%[[A]], %[[T]], %[[SITE]]) : (i64, i64, i64) -> i1
// CHECK: return %{{.*}}, %[[FITS]]
func.func @count_after_index(%i: index, %n: index, %asked: index, %total: index) -> (index, i1) {
  %0 = compress.check_index %i, %n {site = "node 'g' (Gather)"}
  %1 = compress.check_count %asked, %total {site = "node 'r' (Reshape)"}
  return %0, %1 : index, i1
}

// -----

// Tests that a module with count checks alone gets its sites too.
// CHECK: module attributes {compress.index_sites = ["node 'r' (Reshape)"]}
// CHECK-LABEL: func.func @count_only
// CHECK: call @compress_rt_check_count
func.func @count_only(%asked: index, %total: index) -> i1 {
  %0 = compress.check_count %asked, %total {site = "node 'r' (Reshape)"}
  return %0 : i1
}
