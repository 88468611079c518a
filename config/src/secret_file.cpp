#include "fleetps/config/secret_file.hpp"

#include <fstream>

namespace fleetps::config {

std::optional<std::string> ReadSecretLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  if (line.ends_with('\r')) line.pop_back();
  return line;
}

}  // namespace fleetps::config
