#include "fleetps/collector/api/adhoc.hpp"

#include "fleetps/collector/telemetry/internal_errors.hpp"

namespace fleetps::collector {

std::string DescribeException(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "non-standard exception";
  }
}

void RecordInternalException(std::string_view where, const std::exception_ptr& error) noexcept {
  if (!error) return;
  try {
    RecordInternalError(where, DescribeException(error));
  } catch (...) {
    // Describing allocates; out of memory here still counts the error.
    RecordInternalError(where, "out of memory describing an exception");
  }
}

}  // namespace fleetps::collector
