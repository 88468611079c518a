// Identifier characters shared by the selector parser and the field schema.
#pragma once

#include <cctype>

namespace fleetps::collector::detail {

inline bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_';
}
inline bool IsIdentChar(char c) {
  return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) != 0;
}

}  // namespace fleetps::collector::detail
