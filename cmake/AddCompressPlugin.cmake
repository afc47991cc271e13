# add_compress_plugin(NAME sources...): a pass or dialect plugin, the shared
# library that the tools' --load-pass-plugin / --load-dialect-plugin load
# (MLIR's plugin API: it defines mlirGetPassPluginInfo or
# mlirGetDialectPluginInfo). It compiles against CompressIR's headers and
# MLIR's and links none of CompressIR's libraries: its references to our
# code resolve against the tool that loads it (the tools export their
# symbols), so that plugin and tool share one compress dialect, one pass
# registry and one calibration service. Installed with the package; the
# build tree includes it too (examples/ built as tests).
function(add_compress_plugin name)
  add_library(${name} MODULE ${ARGN})
  if(COMPRESSIR_INCLUDE_DIR) # installed; the build tree's are global
    target_include_directories(${name} PRIVATE ${COMPRESSIR_INCLUDE_DIR})
  endif()
  target_include_directories(${name} SYSTEM PRIVATE ${MLIR_INCLUDE_DIRS} ${LLVM_INCLUDE_DIRS})
  separate_arguments(_definitions NATIVE_COMMAND "${LLVM_DEFINITIONS}")
  target_compile_options(${name} PRIVATE ${_definitions})
  target_compile_features(${name} PRIVATE cxx_std_17)
  # Shared MLIR and LLVM, the very libraries the tools load.
  target_link_libraries(${name} PRIVATE MLIR LLVM)
endfunction()
