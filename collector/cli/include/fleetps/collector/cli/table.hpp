// The CLI's renderings of API answers: aligned tables that fold hosts (`web[01-40]`), and
// indented JSON. Inputs are the JSON documents of /api/v1/processes and /api/v1/hosts as the
// CLI received them (shapes in docs/query.md). Pure functions; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fleetps::collector {

enum class TableMode {
  kTable,  ///< Folded: one row per distinct process (or host state) across hosts.
  kWide,   ///< One row per process (or host), more columns, full command lines.
};

struct TableOptions {
  TableMode mode = TableMode::kTable;
  /// Width of ARGS in kTable mode, in characters; longer command lines end in "...".
  std::size_t args_width = 60;
  /// The selector as the user typed it: a `q` error's position is then shown with a caret.
  std::string_view selector;
};

/// What the CLI prints: `out` to stdout, `err` to stderr; `ok` false means exit non-zero
/// (an error answer or an unreadable document). `incomplete`: a cluster's fleet-wide answer
/// lacks the hosts of members that did not answer (or hosts nobody owns); `err` then names
/// them (`warning: collector-c did not answer within 2s: 1,013 hosts unknown (...)`).
struct Rendered {
  std::string out;
  std::string err;
  bool ok = true;
  bool incomplete = false;
};

/// Renders a /api/v1/processes answer.
///
/// kTable folds rows with the same user, comm and args, on one host or across hosts, into one
/// line: HOST is the nodeset of the hosts (`web[01-40]`), PROCS the number of processes, PID
/// the pid when there is one process and `*` otherwise, RSS and CPU the largest value among
/// them. Lines keep the order of each group's first row (the server's sort order).
/// Columns: HOST PROCS PID USER RSS CPU COMM ARGS.
///
/// kWide does not fold: HOST PID PPID USER STATE RSS VSZ CPU THREADS FDS AGE GROUP COMM ARGS.
///
/// Absent values print as `-`. Sizes use binary units (`1.2GiB`), CPU is in cores (`0.35`).
/// Control characters from remote hosts print as `?`. Notes go to `err`: "no matching
/// processes", "showing 50 of 1234", and hosts that were stale or down (folded too).
[[nodiscard]] Rendered RenderProcessesTable(std::string_view json, const TableOptions& options);

/// Renders a /api/v1/hosts answer. kTable folds hosts with the same state, dialect, last probe
/// status and reason: HOST COUNT STATE DIALECT PROBE REASON. kWide lists every host:
/// HOST STATE DIALECT EPOCH PROBE SESSION REASON LABELS. An answer from a cluster (hosts
/// carry `collector`) adds COLLECTOR, the member that owns the host (kTable folds by it too).
[[nodiscard]] Rendered RenderHostsTable(std::string_view json, const TableOptions& options);

/// Re-indents any API answer (2 spaces) for `-o json`. `ok` is false for an error answer (`out`
/// still holds it, `err` has the message) or an unreadable document (`out` empty); an
/// incomplete cluster answer is printed whole, with its warnings in `err`.
[[nodiscard]] Rendered RenderJson(std::string_view json);

/// `512B`, `4.0KiB`, `1.2GiB`, `37MiB`: one decimal below 10, none above.
[[nodiscard]] std::string FormatBytesHuman(double bytes);

/// Cores with two decimals: `0.35`, `12.00`.
[[nodiscard]] std::string FormatCores(double cores);

/// The two largest units: `42s`, `5m12s`, `3h4m`, `12d3h`.
[[nodiscard]] std::string FormatAgeHuman(double seconds);

// ---- other API answers -------------------------------------------------------------------------

/// Renders a /api/v1/listening answer. kTable folds sockets with the same proto, address,
/// port, user and comm across hosts (HOST is a nodeset, PID the pid when there is one socket
/// and `*` otherwise): HOST PROTO ADDRESS PORT PID USER COMM. kWide lists every socket with
/// GROUP. Notes go to `err` ("no matching sockets", "showing N of M", stale/down hosts);
/// remote text is made terminal-safe.
[[nodiscard]] Rendered RenderListeningTable(std::string_view json, const TableOptions& options);

/// Renders an open-files answer: FD TYPE POS FLAGS NAME, plus a note when truncated.
[[nodiscard]] Rendered RenderOpenFilesTable(std::string_view json);

/// One line for one server-sent event (`event:` name and `data:` JSON):
/// `host_state web01 backoff reason=connect_refused retry_in=1.2s`,
/// `probe web01 ok seq=12 processes=130 0.08s`, `config_reload ok sighup added=1 ...`,
/// `dropped 12 events (total 40)`. Empty for an event it cannot read.
[[nodiscard]] std::string FormatEventLine(std::string_view event, std::string_view data);

/// Renders a /api/v1/cluster answer (`fleetps cluster status`): a summary line, then one row per
/// member (the answering member marked `*`).
[[nodiscard]] Rendered RenderClusterStatus(std::string_view json);

/// Renders the `owners` of a /api/v1/cluster?hosts= answer (`fleetps cluster owner`): host,
/// bucket, owner, advertise.
[[nodiscard]] Rendered RenderClusterOwners(std::string_view json);

}  // namespace fleetps::collector
