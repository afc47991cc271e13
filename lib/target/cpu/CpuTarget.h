// The CPU target: the pipeline of passes/cpu, the runtime of
// lib/runtime/cpu, artifacts of lib/aot.
#ifndef COMPRESS_LIB_TARGET_CPU_CPUTARGET_H
#define COMPRESS_LIB_TARGET_CPU_CPUTARGET_H

namespace compress {

/// Registers the "cpu" target (once; later calls do nothing).
void registerCpuTarget();

} // namespace compress

#endif
