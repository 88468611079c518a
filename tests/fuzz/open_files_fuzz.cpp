// The open-files template's output: /proc listings with fdinfo, and lsof -F ftn.
#include "fleetps/probes/open_files.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetps::probes;
  const auto [selector, text] = fleetps::fuzz::Split(data, size);
  const OpenFilesMethod method =
      (selector & 1) != 0 ? OpenFilesMethod::kLsof : OpenFilesMethod::kProc;
  const OpenFilesResult r = ParseOpenFiles(method, text, "5f3a9c1be07d4e62");
  if (r.files.size() > kMaxOpenFiles) __builtin_trap();
  if (r.state != OpenFilesState::kOk && !r.files.empty() &&
      r.state != OpenFilesState::kPermissionDenied) {
    __builtin_trap();
  }
  return 0;
}
