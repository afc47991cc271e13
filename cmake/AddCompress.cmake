# How the project declares its libraries: MLIR's add_mlir_library and
# add_mlir_dialect_library (LLVM's compile flags, tablegen dependencies),
# installed by our own rules and exported as CompressIR::<name> for
# find_package(CompressIR) (cmake/CompressIRConfig.cmake.in).

# Where installed headers go: sources include each other by their path from
# the repository root ("dialects/compress/IR/CompressOps.h").
set(COMPRESS_INSTALL_INCLUDE_DIR include/compressir)

function(_compress_install_library name)
  target_include_directories(${name} INTERFACE
    $<INSTALL_INTERFACE:${COMPRESS_INSTALL_INCLUDE_DIR}>)
  install(TARGETS ${name} EXPORT CompressIRTargets
    ARCHIVE DESTINATION lib LIBRARY DESTINATION lib)
endfunction()

# add_compress_library(NAME sources... [DEPENDS targets...] [LINK_LIBS PUBLIC|PRIVATE libs...])
function(add_compress_library name)
  add_mlir_library(${name} ${ARGN} DISABLE_INSTALL EXCLUDE_FROM_LIBMLIR)
  _compress_install_library(${name})
endfunction()

# The same for the library of a dialect (listed among MLIR's dialect libraries).
function(add_compress_dialect_library name)
  add_mlir_dialect_library(${name} ${ARGN} DISABLE_INSTALL EXCLUDE_FROM_LIBMLIR)
  _compress_install_library(${name})
endfunction()
