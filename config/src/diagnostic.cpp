#include "fleetps/config/diagnostic.hpp"

namespace fleetps::config {

std::string Diagnostic::ToString() const {
  std::string out = file;
  out += ':';
  out += std::to_string(line);
  out += ':';
  out += std::to_string(column);
  out += severity == Severity::kWarning ? ": warning: " : ": ";
  out += message;
  return out;
}

}  // namespace fleetps::config
