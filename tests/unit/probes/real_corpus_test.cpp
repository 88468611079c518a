// The parsers on real output captured on real hosts by other projects (tests/data/real, with
// PROVENANCE.md per dialect). Each `<capture>.expect` lists rows as a person reads them off the
// output (column=value, the capture's own headers); the parser's rows must agree field by
// field. The captures' column sets are not the probe's, so ps tables go through the
// header-driven path (ParsePsWithHeader), which shares the row and field code of the probe's
// own tables (ParsePsTable).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = fs::path(FLEETPS_SOURCE_DIR) / "tests/data/real";

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

using ExpectRow = std::vector<std::pair<std::string, std::string>>;

std::vector<ExpectRow> ReadExpect(const fs::path& p) {
  std::vector<ExpectRow> rows;
  std::istringstream in(Read(p));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.starts_with('#')) continue;
    ExpectRow row;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, '\t');) {
      const auto eq = cell.find('=');
      if (eq == std::string::npos) continue;
      row.emplace_back(cell.substr(0, eq), cell.substr(eq + 1));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Dialect DialectOfDir(const std::string& dir) {
  return ParseDialectName(dir).value_or(Dialect::kFreebsd);
}

// Captures no reader can split without the header their source left out: `ps -ef` rows,
// whose STIME holds a blank ("Oct 30"). The probe never asks for such a column.
constexpr std::string_view kUnsplittable[] = {"aix/ps-ef-rows-7digit-pid-aix.txt"};

// Every ps-like capture with hand-written expectations.
std::vector<std::string> PsCaptures() {
  std::vector<std::string> out;
  if (!fs::exists(kRoot)) return out;
  for (const auto& dir : fs::directory_iterator(kRoot)) {
    for (const auto& file : fs::directory_iterator(dir.path())) {
      const std::string name = file.path().filename().string();
      const bool ps =
          name.starts_with("ps-") || name.starts_with("ucb-ps") || name.starts_with("prstat");
      if (!ps || file.path().extension() != ".txt") continue;
      fs::path expect = file.path();
      expect.replace_extension(".expect");
      const std::string id = dir.path().filename().string() + "/" + name;
      if (fs::exists(expect) && std::find(std::begin(kUnsplittable), std::end(kUnsplittable), id) ==
                                    std::end(kUnsplittable)) {
        out.push_back(id);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return name;
}

constexpr std::int64_t kClock = 2'000'000'000;

bool Is(const std::string& key, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

class RealPsCapture : public ::testing::TestWithParam<std::string> {};

TEST_P(RealPsCapture, RowsMatchWhatAPersonReads) {
  const fs::path capture = kRoot / GetParam();
  fs::path expect_path = capture;
  expect_path.replace_extension(".expect");
  const std::string text = Read(capture);
  const std::vector<ExpectRow> expected = ReadExpect(expect_path);
  ASSERT_FALSE(expected.empty());
  const Dialect dialect = DialectOfDir(capture.parent_path().filename().string());
  ParseStats stats;
  // A capture whose source cut the header off (grep) is read like the probe's own headerless
  // tables, with the columns its expectations name.
  const bool headerless = text.substr(0, text.find('\n')).find("PID") == std::string::npos &&
                          std::any_of(expected.front().begin(), expected.front().end(),
                                      [](const auto& kv) { return kv.first == "PID"; });
  std::vector<ProcessRow> rows;
  if (headerless) {
    std::vector<PsColumn> columns;
    for (const auto& [key, value] : expected.front()) {
      if (key == "PID")
        columns.push_back(PsColumn::kPid);
      else if (key == "PPID")
        columns.push_back(PsColumn::kPpid);
      else if (key == "STAT")
        columns.push_back(PsColumn::kState);
      else if (key == "CMD")
        columns.push_back(PsColumn::kArgs);
      else
        FAIL() << "no headerless column for " << key;
    }
    rows = ParsePsTable(dialect, columns, text, kClock, stats);
  } else {
    rows = ParsePsWithHeader(dialect, text, kClock, stats);
  }

  const bool has_pid = std::any_of(expected.front().begin(), expected.front().end(),
                                   [](const auto& kv) { return kv.first == "PID"; });
  if (!has_pid) {
    // fleetps needs a PID column: a table without one is refused, and counted, not guessed.
    EXPECT_TRUE(rows.empty());
    EXPECT_EQ(stats.skipped[static_cast<std::size_t>(SkipReason::kNoHeader)], 1u);
    return;
  }
  // No silent loss: every data line became a row or was counted with a reason.
  EXPECT_EQ(rows.size() + stats.lines_skipped + (headerless ? 0 : 1), stats.lines_seen);

  for (const ExpectRow& want : expected) {
    std::int64_t pid = -1;
    int commands = 0;
    for (const auto& [key, value] : want) {
      if (key == "PID") pid = std::stoll(value);
      if (Is(key, {"COMMAND", "CMD"})) ++commands;
    }
    const auto row =
        std::find_if(rows.begin(), rows.end(), [pid](const ProcessRow& r) { return r.pid == pid; });
    ASSERT_NE(row, rows.end()) << "pid " << pid << " not parsed";
    SCOPED_TRACE("pid " + std::to_string(pid));
    int command_seen = 0;
    for (const auto& [key, value] : want) {
      // ps pads columns: blanks around a value (a command's trailing blanks, the indent of
      // AIX's `ps -T` tree) are not distinguishable from padding, and the parser trims them.
      const std::size_t first = value.find_first_not_of(' ');
      const std::string trimmed =
          first == std::string::npos ? ""
                                     : value.substr(first, value.find_last_not_of(' ') + 1 - first);
      const bool blank = trimmed.empty() || trimmed == "-";
      if (key == "PPID") {
        EXPECT_EQ(row->ppid, blank ? 0 : std::stoll(value));
      } else if (Is(key, {"USER", "UID", "RUSER", "USERNAME"})) {
        EXPECT_EQ(row->user, blank ? "" : trimmed);
      } else if (Is(key, {"S", "STAT", "ST", "STATE"})) {
        EXPECT_EQ(row->state, trimmed);
      } else if (Is(key, {"COMMAND", "CMD", "COMD", "ARGS"})) {
        ++command_seen;
        // Two COMMAND headers (`-o comm,args`): the first is the short name.
        if (commands == 2 && command_seen == 1) {
          EXPECT_EQ(row->comm, trimmed);
        } else {
          EXPECT_EQ(row->args, trimmed);
        }
      } else if (key == "UCOMM") {
        EXPECT_EQ(row->comm, trimmed);
      } else if (key == "TIME") {
        if (blank) {
          EXPECT_FALSE(row->cpu_total_seconds.has_value());
        } else {
          EXPECT_EQ(row->cpu_total_seconds, ParseDuration(trimmed)) << key << "=" << value;
        }
      } else if (Is(key, {"RSS", "VSZ"})) {
        const auto& field = key == "RSS" ? row->rss_bytes : row->vsz_bytes;
        if (blank) {
          EXPECT_FALSE(field.has_value()) << key;
        } else {
          EXPECT_EQ(field, ParseKibibytes(trimmed)) << key << "=" << value;
        }
      } else if (Is(key, {"ELAPSED", "ETIME"})) {
        const auto seconds = ParseDuration(trimmed);
        ASSERT_TRUE(seconds.has_value()) << key << "=" << value;
        EXPECT_EQ(row->start_time_unix, static_cast<double>(kClock) - *seconds);
      } else if (key == "ZONE") {
        EXPECT_EQ(row->zone, trimmed);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, RealPsCapture, ::testing::ValuesIn(PsCaptures()), TestName);

// Listening-socket tables the probe reads: FreeBSD sockstat, BusyBox netstat -lnp.
std::vector<std::string> SocketCaptures() {
  std::vector<std::string> out;
  for (std::string id :
       {"freebsd/sockstat-4c-long-user-merged-command-pid.txt",
        "freebsd/sockstat-4l-mosh-command-truncated.txt", "busybox/netstat-lnp-tapo-c110.txt"}) {
    if (fs::exists(kRoot / id)) out.push_back(id);
  }
  return out;
}

class RealSocketCapture : public ::testing::TestWithParam<std::string> {};

TEST_P(RealSocketCapture, SocketsMatchWhatAPersonReads) {
  const fs::path capture = kRoot / GetParam();
  fs::path expect_path = capture;
  expect_path.replace_extension(".expect");
  const std::string text = Read(capture);
  ParseStats stats;
  const bool sockstat = GetParam().find("sockstat") != std::string::npos;
  const std::vector<ListenSocket> sockets =
      sockstat ? ParseSockstat(text, stats) : ParseNetstat(Dialect::kBusybox, text, stats);
  EXPECT_EQ(stats.lines_skipped, 0u);
  for (const ExpectRow& want : ReadExpect(expect_path)) {
    std::map<std::string, std::string> w(want.begin(), want.end());
    const std::string local = w["LOCAL ADDRESS"];
    const std::uint32_t port =
        static_cast<std::uint32_t>(std::stoul(local.substr(local.rfind(':') + 1)));
    const std::string address = local.substr(0, local.rfind(':'));
    std::string pid_text = sockstat ? w["PID"] : w["PID/PROGRAM NAME"];
    std::string process = sockstat ? w["COMMAND"] : pid_text.substr(pid_text.find('/') + 1);
    pid_text = pid_text.substr(0, pid_text.find('/'));
    const auto it = std::find_if(sockets.begin(), sockets.end(), [&](const ListenSocket& s) {
      return s.port == port && s.address == address;
    });
    ASSERT_NE(it, sockets.end()) << local << " not parsed";
    EXPECT_EQ(it->pid, std::stoll(pid_text)) << local;
    EXPECT_EQ(it->process, process) << local;
    EXPECT_EQ(it->proto.substr(0, 3), (sockstat ? w["PROTO"] : w["PROTO"]).substr(0, 3)) << local;
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, RealSocketCapture, ::testing::ValuesIn(SocketCaptures()),
                         TestName);

// procstat's descriptor table: numbered descriptors count, text/ctty/cwd/root do not. Read off
// the capture: bash 46620 has descriptors 0, 1, 2 and 255.
TEST(RealCorpus, ProcstatCountsNumberedDescriptors) {
  const fs::path capture = kRoot / "freebsd/procstat-files-bash-fd-text-ctty-cwd.txt";
  ASSERT_TRUE(fs::exists(capture));
  ParseStats stats;
  const PidMap<std::int64_t> counts = ParseProcstatFdCounts(Read(capture), stats);
  ASSERT_NE(counts.Find(46620), nullptr);
  EXPECT_EQ(*counts.Find(46620), 4);
  EXPECT_EQ(counts.size(), 1u);
}

// A process name with a blank (FreeBSD's "crypto returns", tests/data/real/freebsd) in the
// same table shape: its descriptors still count, read under the FD header.
TEST(RealCorpus, ProcstatNameWithABlankKeepsItsDescriptors) {
  const std::string text = Read(kRoot / "freebsd/procstat-files-bash-fd-text-ctty-cwd.txt") +
                           "   12 crypto returns       3 v c rw------   1       0 -   /dev/null\n";
  ParseStats stats;
  const PidMap<std::int64_t> counts = ParseProcstatFdCounts(text, stats);
  ASSERT_NE(counts.Find(12), nullptr);
  EXPECT_EQ(*counts.Find(12), 1);
  EXPECT_EQ(*counts.Find(46620), 4);
}

TEST(RealCorpus, HasCapturesFromSixDialectsWithProvenance) {
  std::size_t captures = 0;
  std::size_t dialects = 0;
  for (const auto& dir : fs::directory_iterator(kRoot)) {
    const std::string provenance = Read(dir.path() / "PROVENANCE.md");
    std::size_t here = 0;
    for (const auto& file : fs::directory_iterator(dir.path())) {
      if (file.path().extension() != ".txt") continue;
      ++here;
      EXPECT_NE(provenance.find(file.path().filename().string()), std::string::npos)
          << file.path() << " has no provenance row";
    }
    captures += here;
    if (here > 0) ++dialects;
  }
  EXPECT_GE(captures, 40u);
  EXPECT_GE(dialects, 6u);
}

// kctune's parse format as HP's guide prints it: nproc is the process limit; maxuprc, a
// per-user limit, is not a system-wide one; no nkthread asked, so no thread limit.
TEST(RealCorpus, KctuneParseFormatGivesNprocAsTheProcessLimit) {
  const fs::path capture = kRoot / "hpux/kctune-P-name-current-maxuprc-nproc-hpux-sag.txt";
  ASSERT_TRUE(fs::exists(capture));
  ParseStats stats;
  const HostLimits limits = ParseKctuneLimits(Read(capture), stats);
  EXPECT_EQ(limits.max_processes, 4200);
  EXPECT_FALSE(limits.max_threads.has_value());
  EXPECT_EQ(stats.lines_skipped, 0u);
}

// kstat -p lines as a SmartOS host printed them: the value of the named statistic only.
TEST(RealCorpus, KstatParseableLinesGiveTheNamedStatistic) {
  const fs::path capture = kRoot / "solaris/kstat-p-cpu-stat-regex-smartos.txt";
  ASSERT_TRUE(fs::exists(capture));
  const std::string text = Read(capture);
  EXPECT_EQ(ParseKstatValue(text, "cpu_stat:1:cpu_stat1:kernel"), 78457429);
  EXPECT_EQ(ParseKstatValue(text, "cpu_stat:4:cpu_stat4:idle"), 2436590263);
  EXPECT_EQ(ParseKstatValue(text, "cpu_stat:1:cpu_stat1:kernel_asflt"), 34);
  EXPECT_FALSE(ParseKstatValue(text, "unix:0:var:v_proc").has_value());
  EXPECT_FALSE(ParseKstatValue(text, "cpu_stat:1:cpu_stat1").has_value());  // a prefix only
}

}  // namespace
}  // namespace fleetps::probes
