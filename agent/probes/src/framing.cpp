#include <string>

#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {

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

  detail::LineReader reader(output);
  std::string_view line;
  bool complete = true;
  while (reader.Next(line, &complete)) {
    const auto line_begin = static_cast<std::size_t>(line.data() - output.data());
    if (!detail::StartsWith(line, prefix)) {
      if (!open.has_value() && !detail::Trim(line).empty()) ++stats.lines_outside;
      if (open.has_value() && !complete) {
        // Output cut mid-line: the partial line is unusable.
        stats.truncated_last_line = true;
        open->body = output.substr(body_begin, line_begin - body_begin);
        add(*open);
        open.reset();
      }
      continue;
    }
    std::string_view rest = line.substr(prefix.size());
    const std::string_view verb = detail::NextToken(rest);
    const std::string_view name = detail::NextToken(rest);
    if (name.empty()) continue;
    if (verb == "BEGIN") {
      if (open.has_value()) {
        open->body = output.substr(body_begin, line_begin - body_begin);
        add(*open);
      }
      open = Section{name, {}, std::nullopt, false};
      body_begin = complete ? static_cast<std::size_t>(line.data() - output.data()) + line.size()
                            : output.size();
      // Skip the CR (if any) and the newline that ended the BEGIN line.
      while (body_begin < output.size() && output[body_begin] != '\n') ++body_begin;
      if (body_begin < output.size()) ++body_begin;
    } else if (verb == "END" && open.has_value() && open->name == name) {
      open->body = output.substr(body_begin, line_begin - body_begin);
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
