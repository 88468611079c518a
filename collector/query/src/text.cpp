#include "fleetps/collector/query/text.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace fleetps::collector {

namespace {

// Length of the valid UTF-8 sequence at text[i] (1..4), or 0 when the bytes there are not one.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t min = 0;
  if ((c & 0xe0) == 0xc0) {
    length = 2;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    length = 3;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    length = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  std::uint32_t code = c & (0x7fu >> length);
  for (std::size_t k = 1; k < length; ++k) {
    const auto cc = static_cast<unsigned char>(text[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    code = (code << 6) | (cc & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

// A character LabelSafe keeps: valid, and neither C0, DEL nor C1.
std::size_t KeptCharacterLength(std::string_view text, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x20 || c == 0x7f) return 0;
  const std::size_t length = Utf8SequenceLength(text, i);
  if (length == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f) return 0;
  return length;
}

}  // namespace

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t length = Utf8SequenceLength(text, i); length != 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
    }
  }
  return out;
}

bool IsLabelSafe(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = KeptCharacterLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string LabelSafe(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t length = KeptCharacterLength(text, i); length != 0) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
    ++i;
  }
  return out;
}

bool LabelSafeExceeds(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) return true;  // LabelSafe never shortens
  return !IsLabelSafe(text) && LabelSafe(text).size() > max_bytes;
}

std::string BoundedLabelSafe(std::string_view text, std::size_t max_bytes) {
  max_bytes = std::max(max_bytes, kMinLabelValueBytes);
  std::string out = IsLabelSafe(text) ? std::string(text) : LabelSafe(text);
  if (out.size() <= max_bytes) return out;
  // FNV-1a over the raw bytes: stable across runs and hosts, so a cut name is the same series
  // from one scrape to the next.
  std::uint32_t hash = 2166136261u;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string marker = "\xe2\x80\xa6";  // U+2026 HORIZONTAL ELLIPSIS
  for (int shift = 28; shift >= 0; shift -= 4) marker.push_back(kHex[(hash >> shift) & 0xf]);
  std::size_t cut = max_bytes - marker.size();
  // LabelSafe's output is valid UTF-8: back up over continuation bytes to a character start.
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
  out.resize(cut);
  out += marker;
  return out;
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out.push_back(c);
    }
  }
  return out + "\"";
}

std::string TerminalSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t length = KeptCharacterLength(text, i); length != 0) {
      out.append(text.substr(i, length));
      i += length;
    } else if (const std::size_t control = Utf8SequenceLength(text, i); control != 0) {
      out.push_back('?');  // C0, DEL or C1 (0x9b is a one-byte CSI on some terminals)
      i += control;
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
    }
  }
  return out;
}

}  // namespace fleetps::collector
