#include <string>

#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

// Blank or not, lines outside sections are counted (banners, MOTD). Only called for the gaps
// between sections, which are short.
void CountOutside(std::string_view gap, ParseStats& stats) {
  detail::LineReader reader(gap);
  std::string_view line;
  while (reader.Next(line)) {
    if (!detail::Trim(line).empty()) ++stats.lines_outside;
  }
}

}  // namespace

std::string_view SkipReasonName(SkipReason reason) noexcept {
  switch (reason) {
    case SkipReason::kShortLine:
      return "short_line";
    case SkipReason::kBadNumber:
      return "bad_number";
    case SkipReason::kNoPid:
      return "no_pid";
    case SkipReason::kNoHeader:
      return "no_header";
    case SkipReason::kUnknownLine:
      return "unknown_line";
  }
  return "unknown_line";
}

// Jumps from marker to marker instead of reading every line: the bodies (ps tables, /proc
// batches) are most of the output and only their bounds matter here. A marker counts only at
// the start of a line, so a process argument that contains one mid-line is body text, as it was
// when every line was read.
std::vector<Section> SplitSections(std::string_view output, std::string_view nonce,
                                   ParseStats& stats) {
  std::vector<Section> sections;
  if (nonce.empty()) return sections;
  std::string prefix = "@@FLEETPS ";
  prefix.append(nonce);
  prefix.push_back(' ');

  std::optional<Section> open;
  std::size_t body_begin = 0;
  auto add = [&](Section s) {
    ++stats.sections_seen;
    if (!s.terminated) ++stats.sections_unterminated;
    if (s.rc.has_value() && *s.rc != 0) ++stats.sections_failed;
    for (const Section& existing : sections) {
      if (existing.name == s.name) return;
    }
    sections.push_back(s);
  };

  // A prefix with a newline could only match across lines, never as a marker line.
  const bool prefix_can_match = prefix.find('\n') == std::string::npos;
  const bool ends_with_newline = !output.empty() && output.back() == '\n';
  std::size_t pos = 0;  // always the start of a line
  while (pos < output.size()) {
    // The next marker at the start of a line, or the end.
    std::size_t marker = prefix_can_match ? pos : std::string_view::npos;
    while (marker != std::string_view::npos) {
      marker = output.find(prefix, marker);
      if (marker == std::string_view::npos || marker == 0 || output[marker - 1] == '\n') break;
      ++marker;
    }
    const std::size_t gap_end = marker == std::string_view::npos ? output.size() : marker;
    if (!open.has_value()) {
      CountOutside(output.substr(pos, gap_end - pos), stats);
    } else if (marker == std::string_view::npos && !ends_with_newline) {
      // Output cut mid-line inside a section: the partial last line is unusable.
      const std::size_t last_nl = output.rfind('\n');
      const std::size_t line_begin = last_nl == std::string_view::npos ? 0 : last_nl + 1;
      if (line_begin >= pos) {
        stats.truncated_last_line = true;
        open->body = output.substr(body_begin, line_begin - body_begin);
        add(*open);
        open.reset();
      }
    }
    if (marker == std::string_view::npos) break;

    // The marker line itself.
    const std::size_t newline = output.find('\n', marker);
    const bool complete = newline != std::string_view::npos;
    const std::size_t line_end = complete ? newline : output.size();
    std::string_view line = output.substr(marker, line_end - marker);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = complete ? newline + 1 : output.size();

    std::string_view rest = line.substr(prefix.size());
    const std::string_view verb = detail::NextToken(rest);
    const std::string_view name = detail::NextToken(rest);
    if (name.empty()) continue;
    if (verb == "BEGIN") {
      if (open.has_value()) {
        open->body = output.substr(body_begin, marker - body_begin);
        add(*open);
      }
      open = Section{name, {}, std::nullopt, false};
      body_begin = pos;
    } else if (verb == "END" && open.has_value() && open->name == name) {
      open->body = output.substr(body_begin, marker - body_begin);
      open->terminated = true;
      const std::string_view rc_token = detail::NextToken(rest);
      if (detail::StartsWith(rc_token, "rc=")) {
        if (auto rc = detail::ParseInt<int>(rc_token.substr(3))) open->rc = *rc;
      }
      add(*open);
      open.reset();
    }
  }
  if (open.has_value()) {
    open->body = output.substr(body_begin);
    add(*open);
  }
  return sections;
}

}  // namespace fleetps::probes
