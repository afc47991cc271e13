// A dialect plugin for the tests of --load-dialect-plugin: the dialect
// `compress_test`, which accepts any operation.
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"

#include "llvm/Config/llvm-config.h"

namespace {

class TestDialect : public mlir::Dialect {
public:
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestDialect)
  explicit TestDialect(mlir::MLIRContext *context)
      : Dialect(getDialectNamespace(), context, mlir::TypeID::get<TestDialect>()) {
    allowUnknownOperations();
  }
  static llvm::StringRef getDialectNamespace() { return "compress_test"; }
};

} // namespace

/// The entry point --load-dialect-plugin looks for.
extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "CompressTestDialect", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) { registry->insert<TestDialect>(); }};
}
