// The CLI's one reader of API answers (shapes in docs/query.md): it parses a document, checks
// the `{"status":"ok","data":{...}}` envelope, turns an error answer or an unreadable document
// into the message the CLI prints, and gives the renderers typed, terminal-safe access to the
// fields. Every renderer reads through it, so a bad answer reads the same whatever the command.
// Pure; thread-compatible.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include "fleetps/collector/cli/table.hpp"

namespace fleetps::collector {

/// Why an answer cannot be rendered, worded for stderr: one or more lines, each ending in "\n".
/// - an error answer: `error: MESSAGE`, then for an error in the `q` parameter the selector with
///   a caret under the error's position;
/// - anything else: `fleetps: invalid response from server: WHAT` (`not JSON (...)`,
///   `no status`, `no data`, `no rows`...).
struct AnswerProblem {
  std::string message;
};

[[noreturn]] void throw_exception_from_error(const AnswerProblem& problem,
                                             const boost::source_location& location);

/// What a renderer returns for a problem: nothing for stdout, the message for stderr, not ok.
[[nodiscard]] Rendered ProblemRendering(const AnswerProblem& problem);

/// Typed access to one JSON object of an answer (`data`, a row, a host, an event). Tolerant by
/// design: a member that is absent or of another type reads as absent, so a field an older or
/// newer server leaves out blanks one cell instead of failing the whole answer. Views the
/// object: the document must outlive it.
class AnswerObject {
 public:
  explicit AnswerObject(const boost::json::object& object) : object_(&object) {}

  /// The string as sent, for grouping and folding; empty when absent or not a string.
  [[nodiscard]] std::string Text(std::string_view key) const;
  /// Text made safe for a terminal (TerminalSafe): control characters print as `?`.
  [[nodiscard]] std::string Cell(std::string_view key) const;
  /// Any JSON number; nullopt otherwise.
  [[nodiscard]] std::optional<double> Number(std::string_view key) const;
  /// A number as a whole number (`812`); `-` when absent.
  [[nodiscard]] std::string Integer(std::string_view key) const;
  /// Any scalar as a cell, whatever type the server chose: strings terminal-safe, numbers
  /// (`%.3g` when fractional), `true`/`false`; `-` when absent, null or an empty string.
  [[nodiscard]] std::string Scalar(std::string_view key) const;
  /// A JSON boolean; nullopt otherwise.
  [[nodiscard]] std::optional<bool> Boolean(std::string_view key) const;
  /// Whether `key` is present, whatever its value.
  [[nodiscard]] bool Has(std::string_view key) const;
  /// The member `key` when it is an object.
  [[nodiscard]] std::optional<AnswerObject> Object(std::string_view key) const;
  /// The object elements of the array `key`, in order (other elements skipped); nullopt when
  /// `key` is absent or not an array.
  [[nodiscard]] std::optional<std::vector<AnswerObject>> Objects(std::string_view key) const;
  /// The members, for open-ended maps such as `labels`.
  [[nodiscard]] const boost::json::object& json() const { return *object_; }

 private:
  const boost::json::object* object_;
};

/// The selector on one line and a caret under `position` on the next, both indented two
/// spaces and terminal-safe; empty when the caret would not line up (an empty selector, one
/// that spans lines, a position past its end).
[[nodiscard]] std::string SelectorCaret(std::string_view selector, std::size_t position);

/// A whole number as text (`1234`); `-` for nullopt.
[[nodiscard]] std::string IntegerText(std::optional<double> number);

/// Parses `text`, an answer or an event's data. Problem: not JSON.
[[nodiscard]] boost::system::result<boost::json::value, AnswerProblem> ParseAnswerJson(
    std::string_view text);

/// Checks a parsed document's envelope: ok with a `data` object, or the problem. `selector` is
/// the selector as the user typed it, for the caret under a `q` error's position (no caret when
/// it is empty, spans lines, or the position lies outside it).
[[nodiscard]] boost::system::result<void, AnswerProblem> CheckAnswerEnvelope(
    const boost::json::value& document, std::string_view selector = {});

/// An ok answer, read and checked. Owns its document.
class Answer {
 public:
  /// ParseAnswerJson then CheckAnswerEnvelope.
  [[nodiscard]] static boost::system::result<Answer, AnswerProblem> Read(
      std::string_view json, std::string_view selector = {});

  /// The `data` object.
  [[nodiscard]] AnswerObject data() const;

  /// The object elements of the array `data.<key>`. Problem: `data.<key>` is absent or not an
  /// array (`no rows`).
  [[nodiscard]] boost::system::result<std::vector<AnswerObject>, AnswerProblem> List(
      std::string_view key) const;

  /// What a row listing prints to stderr after its table, `things` naming the rows
  /// ("processes", "sockets"): `no matching THINGS` when `shown` is 0, or `showing SHOWN of
  /// TOTAL matching THINGS (raise --limit to see more)` when `data.total` is larger; then one
  /// `warning:` line per group of stale or down hosts in `data.hosts`, folded by status and
  /// reason: `warning: web[03-04]: down (timeout)`, `..., data up to 1m35s old`.
  [[nodiscard]] std::string ListingNotes(std::size_t shown, std::string_view things) const;

  /// Whether a cluster's fleet-wide answer lacks hosts (`data.incomplete`).
  [[nodiscard]] bool Incomplete() const;
  /// One `warning:` line per member of `data.missing_members` and for `data.unowned` hosts:
  /// `warning: collector-c did not answer within 2s: 1,013 hosts unknown (web[0100-0412],...)`,
  /// `warning: 3 hosts unowned (handover in progress): web[01-03]`; empty for a complete
  /// answer.
  [[nodiscard]] std::string IncompleteNotes() const;

 private:
  explicit Answer(boost::json::value document) : document_(std::move(document)) {}
  boost::json::value document_;
};

}  // namespace fleetps::collector
