// Moves the large constants of @main into a weights buffer argument, so that
// compiled code reads its weights from a file instead of carrying them.
#include "lib/support/AtomicOutput.h"
#include "passes/cpu/ConstantBytes.h"
#include "passes/cpu/Passes.h"

#include "dialects/compress/IR/WeightStore.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include "llvm/Support/MathExtras.h"

namespace compress {
#define GEN_PASS_DEF_EXTERNALIZEWEIGHTSPASS
#include "passes/cpu/Passes.h.inc"
} // namespace compress

using namespace mlir;
using llvm::SmallVector;

namespace {

constexpr uint64_t kWeightAlignment = 64;

std::string weightName(arith::ConstantOp op, unsigned index) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(op.getValue()))
    return resource.getRawHandle().getKey().str();
  return "constant" + std::to_string(index);
}

struct ExternalizeWeightsPass
    : compress::impl::ExternalizeWeightsPassBase<ExternalizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>("main");
    if (!main || main.isExternal()) {
      module.emitError("expects a func.func @main with a body");
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    auto bufferType = MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8));
    if (failed(main.insertArgument(0, bufferType,
                                   DictionaryAttr::get(ctx, {NamedAttribute(
                                                                StringAttr::get(ctx, "compress.weights"),
                                                                UnitAttr::get(ctx))}),
                                   main.getLoc())))
      return signalPassFailure();
    Value buffer = main.getArgument(0);

    SmallVector<arith::ConstantOp> constants;
    main.walk([&](arith::ConstantOp op) {
      auto type = dyn_cast<RankedTensorType>(op.getType());
      auto attr = dyn_cast<ElementsAttr>(op.getValue());
      if (!type || !attr || !type.getElementType().isIntOrFloat() ||
          type.getElementType().isInteger(1))
        return;
      if (op->use_empty()) // dead: nothing reads it, so it is not written
        return;
      int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
      if (bytes >= minBytes)
        constants.push_back(op);
    });

    // Beside its destination until whole: a failure leaves an existing
    // weights file as it was.
    std::optional<compress::AtomicFile> file;
    if (!weightsFile.empty()) {
      auto created = compress::AtomicFile::create(weightsFile);
      if (!created) {
        module.emitError(llvm::toString(created.takeError()));
        return signalPassFailure();
      }
      file.emplace(std::move(*created));
    }
    SmallVector<Attribute> layout;
    uint64_t offset = 0;
    OpBuilder b(ctx);
    b.setInsertionPointToStart(&main.getBody().front());
    for (auto [index, op] : llvm::enumerate(constants)) {
      auto type = cast<RankedTensorType>(op.getType());
      std::vector<char> storage;
      std::optional<ArrayRef<char>> bytes = compress::constantBytes(cast<ElementsAttr>(op.getValue()), storage);
      if (!bytes)
        continue;
      uint64_t start = llvm::alignTo(offset, kWeightAlignment);
      if (file) {
        file->os().write_zeros(start - offset);
        file->os().write(bytes->data(), bytes->size());
      }
      // Written: a weight mapped from a file leaves memory again.
      compress::releaseWeightPages(ctx, *bytes);
      offset = start + bytes->size();
      std::string name = weightName(op, index);
      layout.push_back(DictionaryAttr::get(
          ctx, {b.getNamedAttr("name", b.getStringAttr(name)),
                b.getNamedAttr("offset", b.getI64IntegerAttr(start)),
                b.getNamedAttr("bytes", b.getI64IntegerAttr(bytes->size()))}));

      b.setInsertionPoint(op);
      Value at = arith::ConstantIndexOp::create(b, op.getLoc(), start);
      auto viewType = MemRefType::get(type.getShape(), type.getElementType());
      Value view = memref::ViewOp::create(b, op.getLoc(), viewType, buffer, at, ValueRange{});
      auto tensor = bufferization::ToTensorOp::create(b, op.getLoc(), type, view,
                                                      /*restrict=*/true, /*writable=*/false);
      op.replaceAllUsesWith(tensor.getResult());
      op.erase();
    }
    if (file)
      if (llvm::Error e = file->commit()) {
        module.emitError(llvm::toString(std::move(e)));
        return signalPassFailure();
      }
    module->setAttr("compress.weights_layout",
                    DictionaryAttr::get(ctx, {b.getNamedAttr("weights", b.getArrayAttr(layout)),
                                              b.getNamedAttr("total_bytes", b.getI64IntegerAttr(offset))}));
  }
};

} // namespace
