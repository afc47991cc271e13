// Hessians of linear layers' inputs from runs on calibration data.
#include "lib/calibration/Calibrator.h"

#include "lib/engine/CpuEngine.h"
#include "lib/importer/onnx/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>

using namespace compress;
using namespace mlir;

llvm::Expected<std::vector<InputSet>> compress::readCalibrationSets(llvm::StringRef dir) {
  std::vector<std::string> folders;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    if (llvm::sys::fs::is_directory(it->path()))
      folders.push_back(it->path());
  if (ec)
    return llvm::createStringError("calibration folder '" + dir + "': " + ec.message());
  if (folders.empty())
    return llvm::createStringError("calibration folder '" + dir +
                                   "' holds no input sets (one subfolder of NAME.npy files each)");
  std::sort(folders.begin(), folders.end());
  std::vector<InputSet> sets;
  for (const std::string &folder : folders) {
    InputSet set;
    for (llvm::sys::fs::directory_iterator it(folder, ec), end; it != end && !ec;
         it.increment(ec)) {
      llvm::StringRef file = it->path();
      if (!file.ends_with(".npy"))
        continue;
      auto tensor = readNpy(file);
      if (!tensor)
        return tensor.takeError();
      set[llvm::sys::path::stem(file)] = std::move(*tensor);
    }
    if (set.empty())
      return llvm::createStringError("calibration set '" + folder + "' holds no .npy file");
    sets.push_back(std::move(set));
  }
  return sets;
}

llvm::Error Calibrator::collect() {
  collected = true;
  // A clone whose @main also returns every linear layer's input.
  OwningOpRef<ModuleOp> clone = module.clone();
  auto main = clone->lookupSymbol<func::FuncOp>("main");
  if (!main)
    return llvm::createStringError("the model has no func.func @main");
  SmallVector<LinearOp> original, copies;
  module.walk([&](LinearOp op) { original.push_back(op); });
  clone->walk([&](LinearOp op) { copies.push_back(op); });
  for (auto [i, op] : llvm::enumerate(original))
    layerIndex[op] = i;
  auto ret = cast<func::ReturnOp>(main.getBody().back().getTerminator());
  unsigned firstTap = ret.getNumOperands();
  SmallVector<Value> results(ret.getOperands());
  for (LinearOp op : copies)
    results.push_back(op.getInput());
  OpBuilder b(ret);
  func::ReturnOp::create(b, ret.getLoc(), results);
  ret.erase();
  SmallVector<DictionaryAttr> resultAttrs;
  for (unsigned i = 0; i < firstTap; ++i)
    resultAttrs.push_back(main.getResultAttrDict(i));
  for (unsigned i = firstTap; i < results.size(); ++i)
    resultAttrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr(kNameAttr, b.getStringAttr("__tap" + std::to_string(i - firstTap)))));
  SmallVector<Type> resultTypes(ValueRange(results).getTypes());
  main.setFunctionType(b.getFunctionType(main.getArgumentTypes(), resultTypes));
  main.setAllResultAttrs(resultAttrs);

  auto engine = CpuEngine::compile(*clone);
  if (!engine)
    return engine.takeError();
  hessians.assign(copies.size(), {});
  rows.assign(copies.size(), 0);
  for (auto [s, set] : llvm::enumerate(sets)) {
    std::vector<HostTensor> inputs;
    for (const TensorSignature &sig : (*engine)->inputs()) {
      auto it = set.find(sig.name);
      if (it == set.end())
        return llvm::createStringError("calibration set " + llvm::Twine(s) +
                                       " lacks model input '" + sig.name + "'");
      inputs.push_back(it->second);
    }
    if (set.size() != inputs.size())
      return llvm::createStringError("calibration set " + llvm::Twine(s) +
                                     " holds a file that is no model input");
    auto outputs = (*engine)->run(inputs);
    if (!outputs)
      return llvm::createStringError("calibration set " + llvm::Twine(s) + ": " +
                                     llvm::toString(outputs.takeError()));
    for (size_t layer = 0; layer < copies.size(); ++layer) {
      const HostTensor &x = (*outputs)[firstTap + layer];
      int64_t k = x.shape.back(), m = x.numElements() / std::max<int64_t>(k, 1);
      std::vector<double> &h = hessians[layer];
      if (h.empty())
        h.assign(k * k, 0.0);
      const float *data = reinterpret_cast<const float *>(x.data.data());
      for (int64_t r = 0; r < m; ++r)
        for (int64_t i = 0; i < k; ++i) {
          double xi = data[r * k + i];
          if (xi == 0)
            continue;
          double *hrow = h.data() + i * k;
          for (int64_t j = 0; j < k; ++j)
            hrow[j] += xi * data[r * k + j];
        }
      rows[layer] += m;
    }
  }
  for (size_t layer = 0; layer < hessians.size(); ++layer)
    for (double &v : hessians[layer])
      v *= 2.0 / double(std::max<int64_t>(rows[layer], 1));
  return llvm::Error::success();
}

llvm::Expected<std::vector<double>> Calibrator::hessian(LinearOp linear) {
  if (!collected)
    if (llvm::Error e = collect())
      return std::move(e);
  auto it = layerIndex.find(linear);
  if (it == layerIndex.end())
    return llvm::createStringError("the layer was not in the model when calibration ran");
  return hessians[it->second];
}
