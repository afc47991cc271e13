#include "lib/export/LayerNodes.h"

#include "dialects/compress/IR/CompressOps.h"
#include "passes/compression/LayerWeights.h"
#include "passes/cpu/ConstantBytes.h"

#include "mlir/IR/Matchers.h"

#include <algorithm>
#include <cstring>

using namespace compress;
using namespace mlir;

namespace {

/// A layer operand's constant bytes, kept alive by `storage` when they had
/// to be expanded.
llvm::Expected<llvm::ArrayRef<char>> operandBytes(Value v, llvm::StringRef what,
                                                  std::vector<char> &storage) {
  ElementsAttr attr;
  std::optional<llvm::ArrayRef<char>> bytes;
  if (v && matchPattern(v, m_Constant(&attr)))
    bytes = constantBytes(attr, storage);
  if (!bytes)
    return llvm::createStringError("its " + what + " is not a constant");
  return *bytes;
}

void setIntAttribute(onnx::NodeProto &node, const char *name, int64_t value) {
  onnx::AttributeProto *attr = node.add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

} // namespace

std::string LayerNodes::addInitializer(const std::string &name, int32_t dataType,
                                       std::vector<int64_t> dims, const void *bytes, size_t size) {
  onnx::TensorProto &t = initializers.emplace_back();
  t.set_name(uniqueName(name));
  t.set_data_type(dataType);
  for (int64_t d : dims)
    t.add_dims(d);
  t.set_raw_data(bytes, size);
  return t.name();
}

onnx::NodeProto &LayerNodes::addNode(const std::string &opType, std::vector<std::string> inputs,
                                     const std::string &output) {
  onnx::NodeProto &node = nodes.emplace_back();
  node.set_op_type(opType);
  // The replaced node is gone: the first node may take its name.
  node.set_name(nodes.size() == 1 ? nodeName : uniqueName(nodeName + "/" + opType));
  for (const std::string &in : inputs)
    node.add_input(in);
  node.add_output(output);
  return node;
}

void LayerNodes::emitFloat(const std::string &tensor, const std::string &input,
                           const std::string &output, const std::vector<float> &weight, int64_t n,
                           int64_t k) {
  std::vector<float> kn(n * k);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      kn[c * n + r] = weight[r * k + c];
  std::string name =
      addInitializer(tensor, onnx::TensorProto::FLOAT, {k, n}, kn.data(), kn.size() * sizeof(float));
  addNode("MatMul", {input, name}, output);
}

llvm::Error LayerNodes::emitBias(const std::string &input, const std::string &output, Value bias) {
  std::vector<char> storage;
  auto bytes = operandBytes(bias, "bias", storage);
  if (!bytes)
    return bytes.takeError();
  int64_t n = int64_t(bytes->size() / sizeof(float));
  std::string name =
      addInitializer(weightName + "_bias", onnx::TensorProto::FLOAT, {n}, bytes->data(), bytes->size());
  addNode("Add", {input, name}, output);
  return llvm::Error::success();
}

llvm::Error LayerNodes::emitQuantized(const std::string &tensor, const std::string &input,
                                      const std::string &output,
                                      Value codes, Value scales, Value zeroPoints, Value bias,
                                      int64_t bits, int64_t group, int64_t n, int64_t k) {
  // MatMulNBits packs 4 or 8 bits a code (narrower codes widen losslessly)
  // in blocks of a power of two from 16 up. A block inside one of our
  // groups takes its scale exactly: blocks must divide the group, unless one
  // group spans the row. Of those, the one that stores the fewest bytes
  // (padding past K and a scale per block) wins.
  int64_t exportBits = bits <= 4 ? 4 : 8;
  int64_t groups = (k + group - 1) / group;
  int64_t block = 0, leastBytes = 0;
  for (int64_t candidate = 16; candidate <= 256; candidate *= 2) {
    if (groups > 1 && group % candidate)
      continue;
    int64_t count = (k + candidate - 1) / candidate;
    int64_t bytes = count * (candidate * exportBits / 8 + 4 + (zeroPoints ? 1 : 0));
    if (!block || bytes <= leastBytes)
      block = candidate, leastBytes = bytes;
  }
  if (!block)
    return llvm::createStringError(
        "its groups of " + llvm::Twine(group) +
        " columns have no power-of-two block of 16 or more dividing them (MatMulNBits' "
        "block_size); quantize with group-size a multiple of 16");
  std::vector<char> codeStorage, scaleStorage, zeroStorage;
  auto codeBytes = operandBytes(codes, "weight", codeStorage);
  if (!codeBytes)
    return codeBytes.takeError();
  auto scaleBytes = operandBytes(scales, "scales", scaleStorage);
  if (!scaleBytes)
    return scaleBytes.takeError();
  llvm::ArrayRef<char> zeroBytes;
  if (zeroPoints) {
    auto z = operandBytes(zeroPoints, "zero points", zeroStorage);
    if (!z)
      return z.takeError();
    zeroBytes = *z;
  }
  int64_t blocks = (k + block - 1) / block;
  int64_t rowBytes = bits > 4 ? k : (k + 1) / 2, blobBytes = block * exportBits / 8;
  const float *scale = reinterpret_cast<const float *>(scaleBytes->data());
  uint32_t defaultZero = 1u << (exportBits - 1), maxCode = (1u << exportBits) - 1;
  std::vector<uint8_t> packed(n * blocks * blobBytes), zeros(n * blocks);
  std::vector<float> blockScales(n * blocks);
  for (int64_t r = 0; r < n; ++r) {
    const char *row = codeBytes->data() + r * rowBytes;
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t g = b * block / group;
      uint32_t zero = zeroPoints ? uint8_t(zeroBytes[r * groups + g]) : defaultZero;
      if (zero > maxCode)
        return llvm::createStringError("its zero point " + llvm::Twine(zero) + " in row " +
                                       llvm::Twine(r) + " does not fit " + llvm::Twine(bits) +
                                       " bits");
      blockScales[r * blocks + b] = scale[r * groups + g];
      zeros[r * blocks + b] = uint8_t(zero);
      uint8_t *blob = packed.data() + (r * blocks + b) * blobBytes;
      for (int64_t j = 0; j < block; ++j) {
        int64_t column = b * block + j;
        // Columns past K pad the last block with the zero point: they add 0.
        uint32_t u = column >= k ? zero
                     : zeroPoints
                         ? uint32_t(unpackCode(row, column, bits, /*unsignedCodes=*/true))
                         : uint32_t(unpackCode(row, column, bits, false) + int32_t(defaultZero));
        if (exportBits == 8)
          blob[j] = uint8_t(u);
        else
          blob[j / 2] |= uint8_t(u << (j % 2 ? 4 : 0));
      }
    }
  }
  std::vector<std::string> inputs{input};
  inputs.push_back(addInitializer(tensor + "_Q" + std::to_string(exportBits),
                                  onnx::TensorProto::UINT8, {n, blocks, blobBytes},
                                  packed.data(), packed.size()));
  inputs.push_back(addInitializer(tensor + "_scales", onnx::TensorProto::FLOAT, {n * blocks},
                                  blockScales.data(), blockScales.size() * sizeof(float)));
  if (zeroPoints) {
    if (exportBits == 4) { // two a byte along each row's blocks, the first in the low nibble
      int64_t perRow = (blocks + 1) / 2;
      std::vector<uint8_t> nibbles(n * perRow);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t b = 0; b < blocks; ++b)
          nibbles[r * perRow + b / 2] |= uint8_t(zeros[r * blocks + b] << (b % 2 ? 4 : 0));
      zeros = std::move(nibbles);
    }
    inputs.push_back(addInitializer(tensor + "_zero_points", onnx::TensorProto::UINT8,
                                    {int64_t(zeros.size())}, zeros.data(), zeros.size()));
  }
  std::string product = bias ? uniqueName(output + "/product") : output;
  onnx::NodeProto &node = addNode("MatMulNBits", inputs, product);
  node.set_domain("com.microsoft");
  setIntAttribute(node, "K", k);
  setIntAttribute(node, "N", n);
  setIntAttribute(node, "bits", exportBits);
  setIntAttribute(node, "block_size", block);
  if (accuracyLevel)
    setIntAttribute(node, "accuracy_level", accuracyLevel);
  usesMicrosoftDomain = true;
  return bias ? emitBias(product, output, bias) : llvm::Error::success();
}

llvm::Error LayerNodes::emit(Operation *op, const std::string &input, const std::string &output) {
  if (auto q = dyn_cast<QuantizedLinearOp>(op)) {
    if (q.getInt8Activations())
      return llvm::createStringError(
          "it quantizes its activations to int8 (mode=w8a8 or w4a8), which MatMulNBits does not "
          "do as we do; export weight-only quantization");
    return emitQuantized(weightName, input, output, q.getWeight(), q.getScales(), q.getZeroPoints(),
                         q.getBias(), q.getBits(), q.getGroupSize(), q.getLayerOutFeatures(),
                         q.getInFeatures());
  }
  if (auto lowRank = dyn_cast<LowRankLinearOp>(op)) {
    std::string addendName;
    if (Value addend = lowRank.getAddend()) {
      auto inner = addend.getDefiningOp<CompressibleLayer>();
      if (!inner || inner.getLayerInput() != lowRank.getInput())
        return llvm::createStringError(
            "its low-rank path adds a value that is not a layer reading the same input");
      addendName = uniqueName(output + "/compressed");
      if (llvm::Error e = emit(inner, input, addendName))
        return e;
    }
    int64_t k = lowRank.getInFeatures(), r = lowRank.getRank(), n = lowRank.getOutFeatures();
    std::string inner = uniqueName(output + "/down");
    std::string outer = lowRank.getBias() || lowRank.getAddend() ? uniqueName(output + "/up") : output;
    if (lowRank.getBits() == 0) {
      std::vector<char> downStorage, upStorage;
      auto down = operandBytes(lowRank.getDown(), "down factor", downStorage);
      if (!down)
        return down.takeError();
      auto up = operandBytes(lowRank.getUp(), "up factor", upStorage);
      if (!up)
        return up.takeError();
      auto floats = [](llvm::ArrayRef<char> bytes) {
        std::vector<float> v(bytes.size() / sizeof(float));
        memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
        return v;
      };
      emitFloat(weightName + "_down", input, inner, floats(*down), r, k);
      emitFloat(weightName + "_up", inner, outer, floats(*up), n, r);
    } else {
      int64_t g = lowRank.getGroupSize();
      if (llvm::Error e = emitQuantized(weightName + "_down", input, inner, lowRank.getDown(), lowRank.getDownScales(),
                                        Value(), Value(), lowRank.getBits(), g ? g : k, r, k))
        return e;
      if (llvm::Error e = emitQuantized(weightName + "_up", inner, outer, lowRank.getUp(), lowRank.getUpScales(),
                                        Value(), Value(), lowRank.getBits(), g ? g : r, n, r))
        return e;
    }
    if (Value bias = lowRank.getBias()) {
      std::string biased = lowRank.getAddend() ? uniqueName(output + "/biased") : output;
      if (llvm::Error e = emitBias(outer, biased, bias))
        return e;
      outer = biased;
    }
    if (lowRank.getAddend())
      addNode("Add", {outer, addendName}, output);
    return llvm::Error::success();
  }
  auto layer = cast<CompressibleLayer>(op);
  int64_t n = layer.getLayerOutFeatures(), k = layer.getLayerInFeatures();
  Value bias;
  std::vector<float> weight;
  if (auto sparse = dyn_cast<SparseLinearOp>(op)) {
    if (sparse.getInt8Activations())
      return llvm::createStringError(
          "it quantizes its activations to int8, which onnxruntime's MatMul does not do as we do");
    auto dense = decompressedWeight(layer);
    if (!dense)
      return dense.takeError();
    weight = std::move(*dense);
    bias = sparse.getBias();
  } else if (auto linear = dyn_cast<LinearOp>(op)) {
    Attribute weightAttr;
    if (matchPattern(linear.getWeight(), m_Constant(&weightAttr))) {
      auto shared = sharedWeights.find(weightAttr.getAsOpaquePointer());
      if (shared != sharedWeights.end()) {
        std::string product = linear.getBias() ? uniqueName(output + "/product") : output;
        addNode("MatMul", {input, shared->second}, product);
        return linear.getBias() ? emitBias(product, output, linear.getBias())
                                : llvm::Error::success();
      }
    }
    auto floats = constantFloats(linear.getWeight());
    if (!floats)
      return llvm::createStringError("its weight is not a float32 constant");
    weight = std::move(*floats);
    bias = linear.getBias();
  } else {
    return llvm::createStringError("a " + layer.getLayerKind() + " layer ('" +
                                   op->getName().getStringRef() + "') has no ONNX form here");
  }
  std::string product = bias ? uniqueName(output + "/product") : output;
  emitFloat(weightName + "_dense", input, product, weight, n, k);
  Attribute weightAttr;
  if (isa<LinearOp>(op) && matchPattern(layer.getLayerWeight(), m_Constant(&weightAttr)))
    sharedWeights[weightAttr.getAsOpaquePointer()] = initializers.back().name();
  return bias ? emitBias(product, output, bias) : llvm::Error::success();
}

llvm::Error LayerNodes::emitScaling(const std::string &input, const std::string &output,
                                    Value scales, Value bias) {
  std::vector<char> storage;
  auto bytes = operandBytes(scales, "scales", storage);
  if (!bytes)
    return bytes.takeError();
  std::string name = addInitializer(weightName + "_scales", onnx::TensorProto::FLOAT,
                                    {int64_t(bytes->size() / sizeof(float))}, bytes->data(),
                                    bytes->size());
  std::string scaled = bias ? uniqueName(output + "/scaled") : output;
  addNode("Mul", {input, name}, scaled);
  return bias ? emitBias(scaled, output, bias) : llvm::Error::success();
}
