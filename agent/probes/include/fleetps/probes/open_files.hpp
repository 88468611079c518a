// The open-files template: one process's descriptors, for
// GET /api/v1/hosts/{host}/processes/{pid}/open-files. A script builder and a pure parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::probes {

/// The largest pid the template accepts (2^31 - 1, pid_t on every supported platform).
inline constexpr std::int64_t kMaxOpenFilesPid = 2'147'483'647;

/// Descriptors listed at most; the script stops reading after this many (plus one, to tell
/// that it did).
inline constexpr std::size_t kMaxOpenFiles = 4096;

/// How the script lists descriptors on a dialect.
enum class OpenFilesMethod {
  kProc,         ///< Linux-style /proc: `ls -l /proc/PID/fd` plus `/proc/PID/fdinfo` pos/flags.
  kLsof,         ///< `lsof -p PID -F ftn`.
  kUnsupported,  ///< Neither is available: nothing runs remotely.
};

/// "proc", "lsof", "unsupported".
[[nodiscard]] std::string_view OpenFilesMethodName(OpenFilesMethod method) noexcept;

/// kProc when the fingerprint saw a readable Linux-style /proc (linux-procps, busybox), else
/// kLsof when lsof is installed, else kUnsupported.
[[nodiscard]] OpenFilesMethod ChooseOpenFilesMethod(Dialect dialect,
                                                    const Fingerprint& fingerprint) noexcept;

/// The open-files script for stdin of `/bin/sh -s`: framed sections `state` (`ok`, `nosuch`
/// or `denied`) and, when ok, `fd` (and `fdinfo` for kProc, `lsof` for kLsof), each cut at
/// kMaxOpenFiles entries. The pid is formatted here from the integer, never taken from text.
/// Returns "" when `pid` is outside 1..kMaxOpenFilesPid, the nonce is invalid (IsValidNonce)
/// or the method is kUnsupported.
[[nodiscard]] std::string OpenFilesScript(OpenFilesMethod method, std::int64_t pid,
                                          std::string_view nonce);

/// One descriptor.
struct OpenFile {
  std::string fd;    ///< "0", "17"; lsof also reports "cwd", "txt", "mem", "rtd".
  std::string type;  ///< kProc: "file", "socket", "pipe", "anon_inode", "other"; kLsof: lsof's
                     ///< type as printed ("REG", "CHR", "IPv4", "unix").
  std::string name;  ///< Link target or lsof name ("/var/log/x", "socket:[1234]").
  std::optional<std::uint64_t> pos;  ///< File offset (kProc fdinfo only).
  std::string flags;                 ///< Octal open flags (kProc fdinfo only), "" when unknown.
};

/// What the remote side said about the process.
enum class OpenFilesState {
  kOk,
  kNoSuchProcess,
  kPermissionDenied,
  kUnsupported,  ///< The dialect has no way to list descriptors.
  kBadOutput,    ///< The output was not the template's (missing or cut sections).
};

/// "ok", "no_such_process", "permission_denied", "unsupported", "bad_output".
[[nodiscard]] std::string_view OpenFilesStateName(OpenFilesState state) noexcept;

struct OpenFilesResult {
  OpenFilesState state = OpenFilesState::kBadOutput;
  OpenFilesMethod method = OpenFilesMethod::kUnsupported;
  std::vector<OpenFile> files;  ///< In the order listed (numeric fds ascending for kProc).
  bool truncated = false;       ///< More than kMaxOpenFiles, or output cut short.
  ParseStats stats;
};

/// Parses the output of OpenFilesScript(method, pid, nonce). Pure, never throws on bad input,
/// keeps at most kMaxOpenFiles entries. Lines it cannot read are skipped and counted.
[[nodiscard]] OpenFilesResult ParseOpenFiles(OpenFilesMethod method, std::string_view output,
                                             std::string_view nonce);

}  // namespace fleetps::probes
