#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/http/gzip.hpp"
#include "fleetps/collector/telemetry/histogram.hpp"
#include "fleetps/collector/telemetry/loop_monitor.hpp"
#include "fleetps/collector/telemetry/process_stats.hpp"

namespace fleetps::collector {
namespace {

TEST(HistogramTest, BucketsAreCumulativeAndUpperBoundsInclusive) {
  Histogram h({0.1, 1.0});
  h.Observe(0.1);
  h.Observe(0.5);
  h.Observe(1.0);
  h.Observe(7.0);
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{0.1, 1.0}));
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{1, 3, 4}));
  EXPECT_EQ(s.Count(), 4u);
  EXPECT_DOUBLE_EQ(s.sum, 8.6);
}

TEST(HistogramTest, LoopLagBucketsSpanHundredMicrosecondsToOneSecond) {
  const auto buckets = LoopLagBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 0.0001);
  EXPECT_DOUBLE_EQ(buckets.back(), 1.0);
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
  EXPECT_GE(buckets.size(), 10u);
}

TEST(ProcessStatsTest, ParsesStatWithParenthesesInTheCommandName) {
  const std::string line =
      "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 125 0 0 20 0 3 0 "
      "123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto stat = ParseProcStat(line);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->utime_ticks, 250u);
  EXPECT_EQ(stat->stime_ticks, 125u);
  EXPECT_EQ(stat->start_ticks, 123456u);
  EXPECT_EQ(stat->vsize_bytes, 104857600u);
  EXPECT_EQ(stat->rss_pages, 2560);
  EXPECT_FALSE(ParseProcStat("4242 (short) S 1 2").has_value());
  EXPECT_FALSE(ParseProcStat("no parenthesis").has_value());
}

TEST(ProcessStatsTest, ReadsThisProcess) {
  const auto stats = ReadProcessStats();
  ASSERT_TRUE(stats.has_value()) << "/proc/self is readable on Linux";
  EXPECT_GT(stats->resident_bytes, 0);
  EXPECT_GE(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_GE(stats->open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_TRUE(stats->max_fds >= stats->open_fds || stats->max_fds == -1);
  EXPECT_GT(stats->start_time_seconds, 1.5e9);
  EXPECT_LE(stats->start_time_seconds, static_cast<double>(std::time(nullptr)) + 1);
  EXPECT_GE(stats->cpu_seconds, 0);
}

TEST(ProcessStatsTest, StillReadsWhenNoDescriptorIsLeft) {
  ASSERT_TRUE(ReadProcessStats().has_value());  // opens its files, as `fleetps run` does at start
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // A soft limit a few descriptors above what is open, then those few taken: nothing more can
  // be opened.
  const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  const rlimit tight{static_cast<rlim_t>(probe + 8), saved.rlim_max};
  ::close(probe);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<int> fillers;
  int fd = 0;
  while ((fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) fillers.push_back(fd);
  const bool exhausted = errno == EMFILE;
  const auto stats = ReadProcessStats();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  const auto held = fillers.size();
  for (int f : fillers) ::close(f);
  EXPECT_TRUE(exhausted);
  ASSERT_TRUE(stats.has_value()) << "self-metrics vanish exactly when they matter";
  EXPECT_EQ(stats->max_fds, static_cast<double>(tight.rlim_cur));
  EXPECT_GE(stats->open_fds, static_cast<double>(held));
  EXPECT_GT(stats->resident_bytes, 0);
  EXPECT_GT(stats->start_time_seconds, 1.5e9);
}

TEST(LoopMonitorTest, RecordsLagUntilCancelled) {
  boost::asio::io_context io;
  Histogram lag(LoopLagBuckets());
  boost::asio::cancellation_signal stop;
  bool finished = false;
  // A zero period fires at once: each run of the loop records one sample, no sleeping.
  boost::asio::co_spawn(
      io, MonitorLoopLag(lag, std::chrono::steady_clock::duration::zero()),
      boost::asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr error) {
        EXPECT_FALSE(error);
        finished = true;
      }));
  while (lag.Snapshot().Count() < 3) ASSERT_EQ(io.run_one(), 1u);
  stop.emit(boost::asio::cancellation_type::terminal);
  io.run();
  EXPECT_TRUE(finished);
  EXPECT_GE(lag.Snapshot().Count(), 3u);
  EXPECT_GE(lag.Snapshot().sum, 0);
}

std::string Gunzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

TEST(ExpositionGzipTest, RoundTrips) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "fleetps_up{host=\"h" + std::to_string(i) + "\"} 1\n";
  const std::string packed = Gzip(text);
  ASSERT_GE(packed.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(packed[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(packed[1]), 0x8b);
  EXPECT_LT(packed.size(), text.size() / 4);
  EXPECT_EQ(Gunzip(packed), text);
  EXPECT_EQ(Gunzip(Gzip("")), "");
}

// A streamed /metrics answer is compressed piece by piece: one gzip member, whatever the cuts.
TEST(ExpositionGzipTest, PiecesMakeOneStream) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "fleetps_up{host=\"h" + std::to_string(i) + "\"} 1\n";
  for (std::size_t piece : {std::size_t{1000}, std::size_t{100'000}, text.size()}) {
    GzipStream stream;
    std::string packed;
    for (std::size_t at = 0; at < text.size(); at += piece) {
      packed += stream.Write(std::string_view(text).substr(at, piece), false);
    }
    packed += stream.Write({}, true);
    EXPECT_EQ(Gunzip(packed), text) << piece;
  }
  GzipStream empty;
  EXPECT_EQ(Gunzip(std::string(empty.Write({}, true))), "");
}

}  // namespace
}  // namespace fleetps::collector
