#include "fleetps/probes/open_files.hpp"

#include <map>

#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

// Same helpers as the process probe's prologue (dialect.cpp), so the framing is identical.
constexpr std::string_view kPrologue =
    "LC_ALL=C; export LC_ALL; LANG=C; export LANG\n"
    "PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin:/usr/local/bin:/usr/local/sbin; export PATH\n"
    "fp_b() { echo \"@@FLEETPS $fp_n BEGIN $1\"; }\n"
    "fp_e() { echo; echo \"@@FLEETPS $fp_n END $1 rc=$2\"; }\n";

// `ls -l /proc/PID/fd` prints a `total` line, then one line per descriptor; one more line than
// kept tells that there were more. fdinfo has two lines (pos, flags) per descriptor.
// A failing ls prints a nonce-marked line, which no link target can forge.
constexpr std::string_view kProcBody =
    "if [ ! -d /proc/$fp_p ]; then fp_s=nosuch\n"
    "elif [ ! -r /proc/$fp_p/fd ]; then fp_s=denied\n"
    "else fp_s=ok; fi\n"
    "fp_b state; echo $fp_s; fp_e state 0\n"
    "if [ $fp_s = ok ]; then\n"
    "fp_b fd; (ls -l /proc/$fp_p/fd 2>/dev/null || echo \"@@FLEETPS $fp_n FAILED\") | "
    "head -n $fp_l; fp_e fd 0\n"
    "fp_b fdinfo; grep -sH -e '^pos:' -e '^flags:' /proc/$fp_p/fdinfo/* 2>/dev/null | "
    "head -n $fp_i; fp_e fdinfo 0\n"
    "fi\n";

constexpr std::string_view kLsofBody =
    "if ps -p $fp_p >/dev/null 2>&1; then fp_s=ok; else fp_s=nosuch; fi\n"
    "fp_b state; echo $fp_s; fp_e state 0\n"
    "if [ $fp_s = ok ]; then\n"
    "fp_b lsof; lsof -n -P -l -w -b -p $fp_p -F ftn 2>/dev/null | head -n $fp_l; fp_e lsof 0\n"
    "fi\n";

const Section* Find(const std::vector<Section>& sections, std::string_view name) {
  for (const Section& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string_view ProcType(std::string_view target) {
  if (target.starts_with('/')) return "file";
  if (target.starts_with("socket:")) return "socket";
  if (target.starts_with("pipe:")) return "pipe";
  if (target.starts_with("anon_inode:")) return "anon_inode";
  return "other";
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!detail::IsDigit(c)) return false;
  }
  return true;
}

void Keep(OpenFilesResult& result, OpenFile file) {
  if (result.files.size() >= kMaxOpenFiles) {
    result.truncated = true;
    return;
  }
  result.files.push_back(std::move(file));
}

// `lrwx------ 1 u g 64 Nov 21 13:00 3 -> /var/log/x`: the fd is the token before the first
// " -> " (ls's prefix has no arrow; a target may contain one).
void ParseProcFd(std::string_view body, std::string_view failed_marker, OpenFilesResult& result,
                 bool& failed) {
  detail::LineReader reader(body);
  std::string_view line;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty() || line.starts_with("total ")) continue;
    if (line == failed_marker) {
      failed = true;
      continue;
    }
    ++result.stats.lines_seen;
    const std::size_t arrow = line.find(" -> ");
    if (arrow == std::string_view::npos) {
      result.stats.Skip(SkipReason::kUnknownLine);
      continue;
    }
    const std::string_view left = detail::TrimRight(line.substr(0, arrow));
    const std::size_t space = left.find_last_of(" \t");
    const std::string_view fd = space == std::string_view::npos ? left : left.substr(space + 1);
    if (!AllDigits(fd) || fd.size() > 10) {
      result.stats.Skip(SkipReason::kBadNumber);
      continue;
    }
    const std::string_view target = line.substr(arrow + 4);
    Keep(
        result,
        OpenFile{
            std::string(fd), std::string(ProcType(target)), std::string(target), std::nullopt, {}});
  }
}

// `/proc/42/fdinfo/3:pos:\t0` and `/proc/42/fdinfo/3:flags:\t0100002`.
void ParseFdinfo(std::string_view body, OpenFilesResult& result) {
  std::map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < result.files.size(); ++i) index.emplace(result.files[i].fd, i);
  detail::LineReader reader(body);
  std::string_view line;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++result.stats.lines_seen;
    const std::size_t slash = line.find("/fdinfo/");
    const std::size_t colon = slash == std::string_view::npos ? slash : line.find(':', slash);
    if (colon == std::string_view::npos) {
      result.stats.Skip(SkipReason::kUnknownLine);
      continue;
    }
    const std::string_view fd = line.substr(slash + 8, colon - slash - 8);
    std::string_view rest = line.substr(colon + 1);
    const std::size_t key_end = rest.find(':');
    const auto it = index.find(fd);
    if (key_end == std::string_view::npos || it == index.end()) {
      result.stats.Skip(SkipReason::kUnknownLine);
      continue;
    }
    const std::string_view key = rest.substr(0, key_end);
    const std::string_view value = detail::Trim(rest.substr(key_end + 1));
    OpenFile& file = result.files[it->second];
    if (key == "pos") {
      file.pos = detail::ParseU64(value);
    } else if (key == "flags" && !value.empty() && value.size() <= 12 &&
               value.find_first_not_of("01234567") == std::string_view::npos) {
      file.flags = std::string(value);
    }
  }
}

// lsof -F: `p<pid>` once, then per file `f<fd>`, `t<type>`, `n<name>` (each file begins with f).
void ParseLsof(std::string_view body, OpenFilesResult& result, bool& saw_process) {
  detail::LineReader reader(body);
  std::string_view line;
  OpenFile current;
  bool open = false;  // a plain flag: GCC 12 misreads std::optional<OpenFile> here
  auto flush = [&] {
    if (open) Keep(result, std::move(current));
    current = OpenFile{};
    open = false;
  };
  while (reader.Next(line)) {
    if (line.empty()) continue;
    ++result.stats.lines_seen;
    const char tag = line.front();
    const std::string_view value = line.substr(1);
    switch (tag) {
      case 'p':
        flush();
        saw_process = true;
        break;
      case 'f':
        flush();
        current.fd = std::string(value);
        open = true;
        break;
      case 't':
        if (open) current.type = std::string(value);
        break;
      case 'n':
        if (open) current.name = std::string(value);
        break;
      default:
        result.stats.Skip(SkipReason::kUnknownLine);
        break;
    }
  }
  flush();
}

}  // namespace

std::string_view OpenFilesMethodName(OpenFilesMethod method) noexcept {
  switch (method) {
    case OpenFilesMethod::kProc:
      return "proc";
    case OpenFilesMethod::kLsof:
      return "lsof";
    case OpenFilesMethod::kUnsupported:
      return "unsupported";
  }
  return "unsupported";
}

std::string_view OpenFilesStateName(OpenFilesState state) noexcept {
  switch (state) {
    case OpenFilesState::kOk:
      return "ok";
    case OpenFilesState::kNoSuchProcess:
      return "no_such_process";
    case OpenFilesState::kPermissionDenied:
      return "permission_denied";
    case OpenFilesState::kUnsupported:
      return "unsupported";
    case OpenFilesState::kBadOutput:
      return "bad_output";
  }
  return "bad_output";
}

OpenFilesMethod ChooseOpenFilesMethod(Dialect dialect, const Fingerprint& fingerprint) noexcept {
  const bool linux_proc = dialect == Dialect::kLinuxProcps || dialect == Dialect::kBusybox;
  if (linux_proc && fingerprint.proc_readable) return OpenFilesMethod::kProc;
  if (fingerprint.has_lsof) return OpenFilesMethod::kLsof;
  return OpenFilesMethod::kUnsupported;
}

std::string OpenFilesScript(OpenFilesMethod method, std::int64_t pid, std::string_view nonce) {
  if (pid < 1 || pid > kMaxOpenFilesPid || !IsValidNonce(nonce)) return {};
  std::string s = "fp_n=";
  s.append(nonce);
  s.append("\nfp_p=").append(std::to_string(pid));
  switch (method) {
    case OpenFilesMethod::kProc:
      s.append("\nfp_l=").append(std::to_string(kMaxOpenFiles + 2));  // total + 1 extra
      s.append("\nfp_i=").append(std::to_string(2 * (kMaxOpenFiles + 1)));
      s.append("\n").append(kPrologue).append(kProcBody);
      return s;
    case OpenFilesMethod::kLsof:
      s.append("\nfp_l=").append(std::to_string(2 + 3 * (kMaxOpenFiles + 1)));
      s.append("\n").append(kPrologue).append(kLsofBody);
      return s;
    case OpenFilesMethod::kUnsupported:
      break;
  }
  return {};
}

OpenFilesResult ParseOpenFiles(OpenFilesMethod method, std::string_view output,
                               std::string_view nonce) {
  OpenFilesResult result;
  result.method = method;
  if (method == OpenFilesMethod::kUnsupported) {
    result.state = OpenFilesState::kUnsupported;
    return result;
  }
  if (!IsValidNonce(nonce)) return result;
  const std::vector<Section> sections = SplitSections(output, nonce, result.stats);
  const Section* state = Find(sections, "state");
  if (state == nullptr || !state->terminated) return result;
  std::string_view word;
  detail::LineReader reader(state->body);
  for (std::string_view line; word.empty() && reader.Next(line);) word = detail::Trim(line);
  if (word == "nosuch") {
    result.state = OpenFilesState::kNoSuchProcess;
    return result;
  }
  if (word == "denied") {
    result.state = OpenFilesState::kPermissionDenied;
    return result;
  }
  if (word != "ok") return result;

  const Section* list = Find(sections, method == OpenFilesMethod::kProc ? "fd" : "lsof");
  if (list == nullptr) return result;
  if (!list->terminated) result.truncated = true;
  result.state = OpenFilesState::kOk;
  if (method == OpenFilesMethod::kProc) {
    const std::string failed_marker = "@@FLEETPS " + std::string(nonce) + " FAILED";
    bool failed = false;
    ParseProcFd(list->body, failed_marker, result, failed);
    if (failed && result.files.empty()) result.state = OpenFilesState::kPermissionDenied;
    if (const Section* info = Find(sections, "fdinfo")) ParseFdinfo(info->body, result);
  } else {
    bool saw_process = false;
    ParseLsof(list->body, result, saw_process);
    if (!saw_process && result.files.empty()) result.state = OpenFilesState::kPermissionDenied;
  }
  return result;
}

}  // namespace fleetps::probes
