// The ad hoc process selector of DESIGN.md §8: `{host=~"web.*", user="oracle", rss>1GiB}`.
// The grammar and its semantics are specified in docs/query.md.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace fleetps::collector {

struct QueryRow;

/// Bounds that keep parsing and matching cost proportional to the input.
inline constexpr std::size_t kMaxSelectorBytes = 4096;
inline constexpr std::size_t kMaxMatchers = 32;
inline constexpr std::size_t kMaxRegexBytes = 512;

/// Every field a selector (or a sort key) can name.
enum class Field {
  kHost,
  kUser,
  kComm,
  kExe,
  kArgs,
  kGroup,
  kState,
  kLabel,  ///< `label.NAME`: a host label from the inventory.
  kPid,
  kPpid,
  kRss,
  kVsz,
  kCpu,
  kThreads,
  kFds,
  kAge,
  kPort,   ///< Listening sockets only (/api/v1/listening); absent on process rows.
  kProto,  ///< Listening sockets only: "tcp", "tcp6", "udp", "udp6".
};

/// How a host label is named as a field: `label.NAME`.
inline constexpr std::string_view kLabelFieldPrefix = "label.";

/// The spelling of a field in selectors ("rss"); "label" for kLabel.
[[nodiscard]] std::string_view FieldName(Field field) noexcept;

/// True for pid, ppid, rss, vsz, cpu, threads, fds, age and port.
[[nodiscard]] bool IsNumericField(Field field) noexcept;

/// A field as written: `label` carries NAME for kLabel and is empty otherwise.
struct FieldRef {
  Field field = Field::kHost;
  std::string label;

  /// "rss", "label.env".
  [[nodiscard]] std::string Name() const;
  friend bool operator==(const FieldRef&, const FieldRef&) = default;
};

/// A parse (or evaluation) error. `position` is a 0-based byte offset into the text that was
/// parsed; `line` and `column` are the same place, 1-based, for humans.
struct SelectorError {
  // Not an aggregate: result<double, SelectorError> must not see SelectorError(double).
  SelectorError() = default;

  std::size_t position = 0;
  std::size_t line = 1;
  std::size_t column = 1;
  std::string message;  ///< Without the position: `unknown field "rsz" (did you mean "rss"?)`.

  /// `1:14: unknown field "rsz" (did you mean "rss"?)`.
  [[nodiscard]] std::string ToString() const;
};

/// Builds an error at `position` of `text`, computing line and column.
[[nodiscard]] SelectorError MakeSelectorError(std::string_view text, std::size_t position,
                                              std::string message);

/// Lets `boost::system::result<T, SelectorError>::value()` throw std::invalid_argument.
[[noreturn]] void throw_exception_from_error(const SelectorError& error,
                                             const boost::source_location& location);

/// Resolves a field name ("rss", "label.env"). Returns nullopt for unknown names.
[[nodiscard]] std::optional<FieldRef> LookupField(std::string_view name);

/// `unknown field "rsz" (did you mean "rss"?)`, with a suggestion when one is close.
[[nodiscard]] std::string UnknownFieldMessage(std::string_view name);

enum class MatchOp {
  kEqual,
  kNotEqual,
  kRegexMatch,
  kRegexNoMatch,
  kGreater,
  kGreaterEqual,
  kLess,
  kLessEqual
};

/// "=", "!=", "=~", "!~", ">", ">=", "<", "<=".
[[nodiscard]] std::string_view MatchOpName(MatchOp op) noexcept;

/// A compiled regex (Boost.Regex, ECMAScript syntax): immutable, shareable across threads.
struct CompiledRegex;

/// One `field op value` term.
struct Matcher {
  FieldRef field;
  MatchOp op = MatchOp::kEqual;
  std::string text;          ///< String operand (unescaped), or the number as written ("1GiB").
  double number = 0;         ///< Numeric operand in base units (bytes, cores, seconds).
  std::size_t position = 0;  ///< Offset of the field name in the selector.
  std::size_t value_position = 0;              ///< Offset of the operand.
  std::shared_ptr<const CompiledRegex> regex;  ///< For =~ and !~ only.
};

/// A parsed selector: the conjunction of its matchers (no matcher matches every row).
///
/// Semantics (see docs/query.md): regexes are fully anchored; a numeric field the row lacks
/// (e.g. rss on HP-UX) fails every numeric comparison, `!=` included; a missing string field
/// (label not set, no group) compares as the empty string, as in PromQL.
///
/// Immutable after parsing; copies share compiled regexes; `Matches` and `Evaluate` are safe to
/// call from many threads at once.
class Selector {
 public:
  Selector() = default;

  /// Like Evaluate, but a regex that exceeds Boost.Regex's complexity bound counts as no match.
  [[nodiscard]] bool Matches(const QueryRow& row) const;

  /// True when every matcher holds. Fails (with the position of the regex operand) only when a
  /// regex hits Boost.Regex's backtracking bound on this row's text.
  [[nodiscard]] boost::system::result<bool, SelectorError> Evaluate(const QueryRow& row) const;

  [[nodiscard]] const std::vector<Matcher>& matchers() const noexcept { return matchers_; }
  [[nodiscard]] bool empty() const noexcept { return matchers_.empty(); }

  /// Canonical text that parses back to an equivalent selector: `{user="oracle", rss>1GiB}`.
  [[nodiscard]] std::string ToString() const;

 private:
  friend boost::system::result<Selector, SelectorError> ParseSelector(std::string_view text);

  std::string source_;              // the text parsed, for error positions
  std::vector<Matcher> matchers_;   // as written
  std::vector<std::size_t> order_;  // evaluation order: cheap tests before regexes
};

/// Parses a selector. Braces are optional (`rss>1GiB` is `{rss>1GiB}`); an empty or blank
/// text, and `{}`, select everything; a trailing comma is allowed. Errors carry the byte
/// position of the offending token. Pure; never throws (except std::bad_alloc).
[[nodiscard]] boost::system::result<Selector, SelectorError> ParseSelector(std::string_view text);

/// ParseSelector restricted to the fields a host has before any probe, `host` and `label.NAME`
/// (e.g. process_names `expect:`); any other field is an error at its position. Such a
/// selector may be evaluated on a QueryRow with only `host` and `labels` set.
[[nodiscard]] boost::system::result<Selector, SelectorError> ParseHostSelector(
    std::string_view text);

}  // namespace fleetps::collector
