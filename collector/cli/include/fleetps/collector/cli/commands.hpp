#pragma once

#include <span>
#include <string>
#include <string_view>

namespace fleetps::collector {

/// One flag of a command, as `--help`, the man page and the bash completion show it.
struct FlagDoc {
  std::string_view flag;     ///< `--config`.
  std::string_view value;    ///< `FILE`; empty for a switch such as `--fresh`.
  std::string_view choices;  ///< Space-separated values the completion offers (`table wide json`).
  std::string_view text;     ///< What it does, one sentence.
};

/// What a command's positional arguments are, for the completion.
enum class ArgKind { kNone, kFile, kOther };

/// One `fleetps` command: the single source of `fleetps --help`, fleetps(1) and the bash
/// completion, so the three cannot drift apart.
struct CommandDoc {
  std::string_view name;      ///< `check-config`.
  std::string_view synopsis;  ///< What follows the name in the usage line.
  std::string_view summary;   ///< One line for `--help`.
  std::string_view details;   ///< More for the man page (may be empty).
  ArgKind positional = ArgKind::kNone;
  std::span<const FlagDoc> flags = {};
  bool client = false;  ///< Also takes the client flags (ClientFlagDocs()).
};

/// Every command, in the order `--help` lists them.
std::span<const CommandDoc> CommandDocs();

/// The flags shared by every command that asks a running collector.
std::span<const FlagDoc> ClientFlagDocs();

/// `fleetps --help`.
std::string UsageText();

/// fleetps(1) in roff (man(7) macros). `version` goes in the title line.
std::string ManPage(std::string_view version);

/// A bash completion script for `fleetps` (plain bash, needs no bash-completion helpers).
std::string BashCompletion();

}  // namespace fleetps::collector
