// The registry of targets.
#include "lib/target/Target.h"

#include "llvm/ADT/STLExtras.h"

#include <map>
#include <mutex>

using namespace compress;

Target::~Target() = default;
DeviceMemory::~DeviceMemory() = default;

namespace {
std::mutex registryMutex;
std::map<std::string, std::unique_ptr<Target>> &registry() {
  static std::map<std::string, std::unique_ptr<Target>> targets;
  return targets;
}
} // namespace

llvm::Error compress::registerTarget(std::unique_ptr<Target> target) {
  std::lock_guard<std::mutex> lock(registryMutex);
  std::string name = target->getName().str();
  if (!registry().try_emplace(name, std::move(target)).second)
    return llvm::createStringError("target '" + name + "' is registered twice");
  return llvm::Error::success();
}

llvm::Expected<const Target &> compress::lookupTarget(llvm::StringRef name) {
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    auto it = registry().find(name.str());
    if (it != registry().end())
      return *it->second;
  }
  std::string known;
  for (const std::string &n : registeredTargetNames())
    known += (known.empty() ? "" : ", ") + n;
  return llvm::createStringError("unsupported --target '" + name + "' (supported: " + known + ")");
}

std::vector<std::string> compress::registeredTargetNames() {
  std::lock_guard<std::mutex> lock(registryMutex);
  std::vector<std::string> names;
  for (const auto &entry : registry())
    names.push_back(entry.first);
  return names;
}
