// Unit tests of ONNX model loading: validation and tensor data.
#include "lib/importer/onnx/OnnxModel.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace compress;

namespace {

std::string writeModel(const onnx::ModelProto &model) {
  llvm::SmallString<128> path;
  llvm::sys::fs::createTemporaryFile("model", "onnx", path);
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  os << model.SerializeAsString();
  return std::string(path);
}

onnx::ModelProto reluModel() {
  onnx::ModelProto model;
  model.add_opset_import()->set_version(17);
  auto *graph = model.mutable_graph();
  graph->add_input()->set_name("x");
  auto *node = graph->add_node();
  node->set_op_type("Relu");
  node->add_input("x");
  node->add_output("y");
  graph->add_output()->set_name("y");
  return model;
}

std::string loadError(const onnx::ModelProto &model) {
  auto loaded = loadOnnxModel(writeModel(model));
  return loaded ? "" : llvm::toString(loaded.takeError());
}

TEST(OnnxModel, LoadsAValidGraph) {
  auto loaded = loadOnnxModel(writeModel(reluModel()));
  ASSERT_TRUE(bool(loaded)) << llvm::toString(loaded.takeError());
  EXPECT_EQ((*loaded)->opsetFor(""), 17);
  EXPECT_EQ((*loaded)->opsetFor("com.example"), -1);
}

TEST(OnnxModel, RejectsAnUndefinedValue) {
  onnx::ModelProto model = reluModel();
  model.mutable_graph()->mutable_node(0)->set_input(0, "ghost");
  EXPECT_NE(loadError(model).find("reads 'ghost', which nothing before it produces"),
            std::string::npos);
}

TEST(OnnxModel, RejectsAMissingOutput) {
  onnx::ModelProto model = reluModel();
  model.mutable_graph()->mutable_output(0)->set_name("nowhere");
  EXPECT_NE(loadError(model).find("graph output 'nowhere' is not produced"),
            std::string::npos);
}

TEST(OnnxModel, RejectsAModelWithoutOpset) {
  onnx::ModelProto model = reluModel();
  model.clear_opset_import();
  EXPECT_NE(loadError(model).find("imports no opset"), std::string::npos);
}

TEST(OnnxModel, ReadsTypedAndRawData) {
  OnnxModel model;
  onnx::TensorProto typed;
  typed.set_name("t");
  typed.set_data_type(onnx::TensorProto::INT64);
  typed.add_dims(2);
  typed.add_int64_data(-3);
  typed.add_int64_data(9);
  auto bytes = readTensorBytes(model, typed);
  ASSERT_TRUE(bool(bytes));
  ASSERT_EQ(bytes->size(), 16u);
  EXPECT_EQ(reinterpret_cast<const int64_t *>(bytes->data())[0], -3);

  onnx::TensorProto raw;
  raw.set_name("r");
  raw.set_data_type(onnx::TensorProto::FLOAT);
  raw.add_dims(3);
  raw.set_raw_data(std::string(8, '\0')); // 8 bytes for 3 floats
  auto short_ = readTensorBytes(model, raw);
  ASSERT_FALSE(bool(short_));
  EXPECT_NE(llvm::toString(short_.takeError()).find("has 8 bytes of data, its shape needs 12"),
            std::string::npos);
}

TEST(OnnxModel, RejectsDimsTheDataDoesNotFill) {
  // 2^39 floats: the check must come before any buffer of that size.
  onnx::TensorProto huge;
  huge.set_name("h");
  huge.set_data_type(onnx::TensorProto::FLOAT);
  huge.add_dims(int64_t(1) << 39);
  huge.set_raw_data(std::string(4, '\0'));
  auto bytes = readTensorBytes(llvm::StringRef(), huge);
  ASSERT_FALSE(bool(bytes));
  EXPECT_NE(llvm::toString(bytes.takeError()).find("its shape needs 2199023255552"),
            std::string::npos);
}

TEST(OnnxModel, RejectsExternalDataOutsideTheFolder) {
  onnx::ModelProto model = reluModel();
  auto *init = model.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(1);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  auto *entry = init->add_external_data();
  entry->set_key("location");
  entry->set_value("/etc/passwd");
  EXPECT_NE(loadError(model).find("leaves the model's folder"), std::string::npos);
}

} // namespace
