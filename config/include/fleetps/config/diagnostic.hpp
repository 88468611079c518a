#pragma once

#include <string>

namespace fleetps::config {

/// How bad a diagnostic is. Only errors make a configuration invalid.
enum class Severity {
  kError,
  kWarning,  ///< Valid but probably unintended (e.g. a high-cardinality group name).
};

/// One problem found in a configuration file, pointing at the offending YAML value (or at the
/// key, for unknown and duplicate keys).
///
/// `line` and `column` are 1-based. Both are 0 when the problem has no position (the file
/// cannot be read, or the YAML parser gave none).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  Severity severity = Severity::kError;

  /// `file:line:col: message` for errors, `file:line:col: warning: message` for warnings:
  /// the form compilers use, so editors can jump to the position.
  [[nodiscard]] std::string ToString() const;

  bool operator==(const Diagnostic&) const = default;
};

}  // namespace fleetps::config
