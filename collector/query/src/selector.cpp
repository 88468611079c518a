#include "fleetps/collector/query/selector.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <utility>

// Boost.Regex rather than std::regex: libstdc++'s matcher recurses per character and overflows
// the stack on long command lines, and neither bounds backtracking. Boost's matcher is
// iterative and throws once a match gets too expensive, which keeps a user's regex from
// stalling or crashing the collector.
#include <boost/regex.hpp>

#include "fleetps/collector/query/row.hpp"
#include "fleetps/collector/query/text.hpp"
#include "identifier.hpp"

namespace fleetps::collector {

struct CompiledRegex {
  boost::regex re;
};

namespace {

using detail::IsIdentChar;
using detail::IsIdentStart;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// `"x"` for a printable character, `byte 0x1b` otherwise: messages never carry raw control bytes.
std::string Describe(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("\"") + c + '"';
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0xf];
}

bool IsRegexOp(MatchOp op) { return op == MatchOp::kRegexMatch || op == MatchOp::kRegexNoMatch; }
bool IsOrderOp(MatchOp op) {
  return op == MatchOp::kGreater || op == MatchOp::kGreaterEqual || op == MatchOp::kLess ||
         op == MatchOp::kLessEqual;
}

struct UnitScale {
  std::string_view unit;
  double scale;
};

constexpr std::array<UnitScale, 11> kSizeUnits{{
    {"B", 1},
    {"KiB", 1024.0},
    {"MiB", 1024.0 * 1024},
    {"GiB", 1024.0 * 1024 * 1024},
    {"TiB", 1024.0 * 1024 * 1024 * 1024},
    {"KB", 1e3},
    {"kB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
    {"", 1},
}};

constexpr std::array<UnitScale, 6> kDurationUnits{{
    {"ms", 0.001},
    {"s", 1},
    {"m", 60},
    {"h", 3600},
    {"d", 86400},
    {"w", 604800},
}};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  boost::system::result<std::vector<Matcher>, SelectorError> Run() {
    if (text_.size() > kMaxSelectorBytes) {
      return Error(kMaxSelectorBytes,
                   "selector is longer than " + std::to_string(kMaxSelectorBytes) + " bytes");
    }
    std::vector<Matcher> matchers;
    SkipSpace();
    if (AtEnd()) return matchers;
    const bool braced = Peek() == '{';
    if (braced) ++pos_;
    SkipSpace();
    while (true) {
      if (braced ? Peek() == '}' : AtEnd()) break;
      if (AtEnd()) return Error(pos_, "expected \"}\"");
      if (matchers.size() == kMaxMatchers) {
        return Error(pos_, "too many matchers (at most " + std::to_string(kMaxMatchers) + ")");
      }
      auto matcher = ParseMatcher();
      if (!matcher) return matcher.error();
      matchers.push_back(std::move(*matcher));
      SkipSpace();
      if (!AtEnd() && Peek() == ',') {
        ++pos_;
        SkipSpace();
        continue;
      }
      if (braced ? Peek() == '}' : AtEnd()) break;
      if (AtEnd()) return Error(pos_, "expected \",\" or \"}\"");
      if (!braced && Peek() == '}') return Error(pos_, "unexpected \"}\" without \"{\"");
      return Error(pos_, (braced ? "expected \",\" or \"}\", got " : "expected \",\", got ") +
                             Describe(Peek()));
    }
    if (braced) ++pos_;  // the loop only leaves a braced selector on its '}'

    SkipSpace();
    if (!AtEnd()) {
      return Error(pos_, "unexpected " + Describe(Peek()) + " after the end of the selector");
    }
    return matchers;
  }

 private:
  [[nodiscard]] bool AtEnd() const { return pos_ >= text_.size(); }
  [[nodiscard]] char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }
  [[nodiscard]] SelectorError Error(std::size_t position, std::string message) const {
    return MakeSelectorError(text_, position, std::move(message));
  }

  boost::system::result<Matcher, SelectorError> ParseMatcher() {
    Matcher m;
    m.position = pos_;
    if (AtEnd() || !IsIdentStart(Peek())) {
      if (AtEnd()) return Error(pos_, "expected a field name");
      return Error(pos_, "expected a field name, got " + Describe(Peek()));
    }
    const std::size_t start = pos_;
    while (!AtEnd() && (IsIdentChar(Peek()) || Peek() == '.')) ++pos_;
    const std::string_view name = text_.substr(start, pos_ - start);
    if (name == "label" || name == kLabelFieldPrefix) {
      return Error(start, "expected a label name: label.NAME");
    }
    auto field = LookupField(name);
    if (!field) {
      if (name.starts_with(kLabelFieldPrefix)) {
        return Error(start + kLabelFieldPrefix.size(),
                     "invalid label name " + Quoted(name.substr(kLabelFieldPrefix.size())) +
                         " (label names match [a-zA-Z_][a-zA-Z0-9_]*)");
      }
      return Error(start, UnknownFieldMessage(name));
    }
    m.field = std::move(*field);
    const bool numeric = IsNumericField(m.field.field);

    SkipSpace();
    const std::size_t op_pos = pos_;
    auto op = ParseOp();
    if (!op) return op.error();
    m.op = *op;
    if (IsRegexOp(m.op) && numeric) {
      return Error(op_pos, "operator " + Quoted(MatchOpName(m.op)) + " needs a string field; " +
                               Quoted(m.field.Name()) + " is numeric");
    }
    if (IsOrderOp(m.op) && !numeric) {
      return Error(op_pos, "operator " + Quoted(MatchOpName(m.op)) + " needs a numeric field; " +
                               Quoted(m.field.Name()) + " is a string");
    }

    SkipSpace();
    m.value_position = pos_;
    if (numeric) {
      auto number = ParseNumber(m.field.field);
      if (!number) return number.error();
      m.number = *number;
      m.text = std::string(text_.substr(m.value_position, pos_ - m.value_position));
      return m;
    }
    if (Peek() != '"') {
      if (AtEnd()) return Error(pos_, "expected a double-quoted string");
      if (Peek() == '\'' || Peek() == '`') {
        return Error(pos_, "strings are written in double quotes");
      }
      return Error(pos_, "expected a double-quoted string, got " + Describe(Peek()));
    }
    bool escaped = false;
    auto text = ParseString(escaped);
    if (!text) return text.error();
    m.text = std::move(*text);
    if (IsRegexOp(m.op)) {
      auto regex = Compile(m.text, m.value_position, escaped);
      if (!regex) return regex.error();
      m.regex = std::move(*regex);
    }
    return m;
  }

  boost::system::result<MatchOp, SelectorError> ParseOp() {
    const std::string_view rest = text_.substr(pos_);
    struct Spelling {
      std::string_view text;
      MatchOp op;
    };
    // Two-character operators first.
    static constexpr std::array<Spelling, 8> kOps{{
        {"=~", MatchOp::kRegexMatch},
        {"!~", MatchOp::kRegexNoMatch},
        {"!=", MatchOp::kNotEqual},
        {">=", MatchOp::kGreaterEqual},
        {"<=", MatchOp::kLessEqual},
        {"=", MatchOp::kEqual},
        {">", MatchOp::kGreater},
        {"<", MatchOp::kLess},
    }};
    if (rest.starts_with("==")) return Error(pos_, "\"==\" is not an operator; use \"=\"");
    for (const Spelling& s : kOps) {
      if (rest.starts_with(s.text)) {
        pos_ += s.text.size();
        return s.op;
      }
    }
    std::string message = "expected an operator (= != =~ !~ > >= < <=)";
    if (!AtEnd()) message += ", got " + Describe(Peek());
    return Error(pos_, std::move(message));
  }

  boost::system::result<std::string, SelectorError> ParseString(bool& escaped) {
    const std::size_t quote = pos_;
    ++pos_;
    std::string out;
    while (!AtEnd()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        escaped = true;
        const char e = text_[pos_ + 1];
        switch (e) {
          case '"':
          case '\\':
            out.push_back(e);
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 't':
            out.push_back('\t');
            break;
          default:
            return Error(pos_, "unknown escape \"\\" + std::string(1, e) +
                                   "\" in a string (use \\\" \\\\ \\n or \\t; regexes need "
                                   "\\\\ before their own escapes)");
        }
        pos_ += 2;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    return Error(quote, "unterminated string");
  }

  boost::system::result<std::shared_ptr<const CompiledRegex>, SelectorError> Compile(
      const std::string& pattern, std::size_t literal_pos, bool escaped) const {
    if (pattern.size() > kMaxRegexBytes) {
      return Error(literal_pos, "regex longer than " + std::to_string(kMaxRegexBytes) + " bytes");
    }
    try {
      auto compiled = std::make_shared<CompiledRegex>();
      compiled->re.assign(pattern, boost::regex::ECMAScript);
      return std::shared_ptr<const CompiledRegex>(std::move(compiled));
    } catch (const boost::regex_error& e) {
      std::string what = e.what();
      if (auto cut = what.find(".  "); cut != std::string::npos) what.resize(cut);
      // Without escapes the literal's bytes are the pattern's, so the position can point
      // inside the string; otherwise point at the literal.
      std::size_t at = literal_pos;
      if (!escaped && e.position() >= 0) {
        at = literal_pos + 1 + std::min(static_cast<std::size_t>(e.position()), pattern.size());
      }
      return Error(at, "invalid regex: " + what);
    } catch (const std::runtime_error& e) {
      return Error(literal_pos, std::string("invalid regex: ") + e.what());
    }
  }

  // Digits, an optional fraction, then the field's unit. Durations may chain terms (1h30m).
  boost::system::result<double, SelectorError> ParseNumber(Field field) {
    const std::string name(FieldName(field));
    if (!IsDigit(Peek())) {
      if (AtEnd()) return Error(pos_, "expected a number for " + Quoted(name));
      if (Peek() == '-') return Error(pos_, "negative numbers are not allowed");
      if (Peek() == '"') {
        return Error(pos_, "expected a number for " + Quoted(name) + ", not a string");
      }
      return Error(pos_, "expected a number for " + Quoted(name) + ", got " + Describe(Peek()));
    }
    double total = 0;
    bool first = true;
    while (true) {
      const std::size_t start = pos_;
      while (IsDigit(Peek())) ++pos_;
      bool fraction = false;
      if (Peek() == '.') {
        if (pos_ + 1 >= text_.size() || !IsDigit(text_[pos_ + 1])) {
          return Error(pos_ + 1, "expected digits after \".\"");
        }
        fraction = true;
        ++pos_;
        while (IsDigit(Peek())) ++pos_;
      }
      if (pos_ - start > 24) return Error(start, "number too long");
      double value = 0;
      const auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, value);
      if (ec != std::errc() || end != text_.data() + pos_) {
        return Error(start, "invalid number");
      }
      const std::size_t unit_pos = pos_;
      while (!AtEnd() && (std::isalpha(static_cast<unsigned char>(Peek())) != 0 || Peek() == '%')) {
        ++pos_;
      }
      const std::string_view unit = text_.substr(unit_pos, pos_ - unit_pos);
      switch (field) {
        case Field::kPid:
        case Field::kPpid:
        case Field::kThreads:
        case Field::kFds:
        case Field::kPort:
          if (fraction) return Error(start, Quoted(name) + " takes an integer");
          if (!unit.empty()) {
            return Error(unit_pos, Quoted(name) + " takes a plain integer, not a unit (" +
                                       Quoted(unit) + ")");
          }
          return value;
        case Field::kRss:
        case Field::kVsz: {
          for (const UnitScale& u : kSizeUnits) {
            if (u.unit == unit) return value * u.scale;
          }
          return Error(unit_pos, "unknown size unit " + Quoted(unit) +
                                     " (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
        }
        case Field::kCpu:
          if (unit.empty()) return value;
          if (unit == "%") return value / 100;
          return Error(unit_pos, "unknown cpu unit " + Quoted(unit) +
                                     " (cpu is in cores, e.g. 0.5, or in percent of one core, "
                                     "e.g. 50%)");
        case Field::kAge: {
          if (unit.empty()) {
            if (!first) return Error(unit_pos, "expected a unit (ms, s, m, h, d, w)");
            return value;  // bare seconds
          }
          const auto it = std::find_if(kDurationUnits.begin(), kDurationUnits.end(),
                                       [&](const UnitScale& u) { return u.unit == unit; });
          if (it == kDurationUnits.end()) {
            return Error(unit_pos,
                         "unknown duration unit " + Quoted(unit) + " (use ms, s, m, h, d or w)");
          }
          total += value * it->scale;
          first = false;
          if (!IsDigit(Peek())) return total;
          continue;  // another term: 1h30m
        }
        default:
          return Error(start, "internal error: not a numeric field");
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool Compare(double value, MatchOp op, double operand) {
  switch (op) {
    case MatchOp::kEqual:
      return value == operand;
    case MatchOp::kNotEqual:
      return value != operand;
    case MatchOp::kGreater:
      return value > operand;
    case MatchOp::kGreaterEqual:
      return value >= operand;
    case MatchOp::kLess:
      return value < operand;
    case MatchOp::kLessEqual:
      return value <= operand;
    case MatchOp::kRegexMatch:
    case MatchOp::kRegexNoMatch:
      break;
  }
  return false;
}

int Cost(const Matcher& m) {
  if (IsNumericField(m.field.field)) return 0;
  return IsRegexOp(m.op) ? 2 : 1;
}

}  // namespace

std::string SelectorError::ToString() const {
  return std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

SelectorError MakeSelectorError(std::string_view text, std::size_t position, std::string message) {
  SelectorError error;
  error.position = position;
  const std::string_view before = text.substr(0, std::min(position, text.size()));
  const std::size_t newline = before.rfind('\n');
  error.line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  error.column = 1 + position - (newline == std::string_view::npos ? 0 : newline + 1);
  error.message = std::move(message);
  return error;
}

void throw_exception_from_error(const SelectorError& error, const boost::source_location&) {
  throw std::invalid_argument(error.ToString());
}

std::string_view MatchOpName(MatchOp op) noexcept {
  switch (op) {
    case MatchOp::kEqual:
      return "=";
    case MatchOp::kNotEqual:
      return "!=";
    case MatchOp::kRegexMatch:
      return "=~";
    case MatchOp::kRegexNoMatch:
      return "!~";
    case MatchOp::kGreater:
      return ">";
    case MatchOp::kGreaterEqual:
      return ">=";
    case MatchOp::kLess:
      return "<";
    case MatchOp::kLessEqual:
      return "<=";
  }
  return "?";
}

boost::system::result<Selector, SelectorError> ParseSelector(std::string_view text) {
  auto matchers = Parser(text).Run();
  if (!matchers) return matchers.error();
  Selector selector;
  selector.source_ = std::string(text);
  selector.matchers_ = std::move(*matchers);
  selector.order_.resize(selector.matchers_.size());
  for (std::size_t i = 0; i < selector.order_.size(); ++i) selector.order_[i] = i;
  std::stable_sort(selector.order_.begin(), selector.order_.end(),
                   [&](std::size_t a, std::size_t b) {
                     return Cost(selector.matchers_[a]) < Cost(selector.matchers_[b]);
                   });
  return selector;
}

boost::system::result<Selector, SelectorError> ParseHostSelector(std::string_view text) {
  auto selector = ParseSelector(text);
  if (!selector) return selector;
  for (const Matcher& m : selector->matchers()) {
    if (m.field.field != Field::kHost && m.field.field != Field::kLabel) {
      return MakeSelectorError(text, m.position,
                               "field " + Quoted(m.field.Name()) +
                                   " is not a host field; a host selector takes host and "
                                   "label.NAME only");
    }
  }
  return selector;
}

bool Selector::Matches(const QueryRow& row) const {
  auto r = Evaluate(row);
  return r && *r;
}

boost::system::result<bool, SelectorError> Selector::Evaluate(const QueryRow& row) const {
  for (const std::size_t index : order_) {
    const Matcher& m = matchers_[index];
    if (IsNumericField(m.field.field)) {
      const std::optional<double> value = NumericValue(row, m.field.field);
      if (!value || !Compare(*value, m.op, m.number)) return false;
      continue;
    }
    const std::string_view value = StringValue(row, m.field);
    bool holds = false;
    switch (m.op) {
      case MatchOp::kEqual:
        holds = value == m.text;
        break;
      case MatchOp::kNotEqual:
        holds = value != m.text;
        break;
      case MatchOp::kRegexMatch:
      case MatchOp::kRegexNoMatch:
        try {
          const bool matched = boost::regex_match(value.begin(), value.end(), m.regex->re);
          holds = matched == (m.op == MatchOp::kRegexMatch);
        } catch (const std::runtime_error&) {
          return MakeSelectorError(source_, m.value_position,
                                   "regex too expensive to evaluate on host " +
                                       Quoted(ValidUtf8(row.host)) +
                                       " (it backtracks too much or too deep; simplify it)");
        }
        break;
      default:
        break;
    }
    if (!holds) return false;
  }
  return true;
}

std::string Selector::ToString() const {
  std::string out = "{";
  for (std::size_t i = 0; i < matchers_.size(); ++i) {
    const Matcher& m = matchers_[i];
    if (i != 0) out += ", ";
    out += m.field.Name();
    out += MatchOpName(m.op);
    out += IsNumericField(m.field.field) ? m.text : QuoteLiteral(m.text);
  }
  return out + "}";
}

}  // namespace fleetps::collector
