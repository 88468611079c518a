#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "fleetps/agent/host_agent.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent {

boost::asio::awaitable<OpenFilesOutcome> HostAgent::RunOpenFiles(std::int64_t pid) {
  using Clock = std::chrono::steady_clock;
  OpenFilesOutcome r;
  r.started = std::chrono::system_clock::now();
  r.finished = r.started;
  if (pid < 1 || pid > probes::kMaxOpenFilesPid) {
    r.reason = make_error_code(Errc::kInternal);
    co_return r;
  }
  if (status_.state != HostState::kReady || !session_.IsUsable() || !dialect_) {
    r.reason = DownReason();
    co_return r;
  }
  r.session_epoch = session_.Epoch();
  const probes::OpenFilesMethod method = probes::ChooseOpenFilesMethod(*dialect_, fingerprint_);
  if (method == probes::OpenFilesMethod::kUnsupported) {
    r.status = ProbeStatus::kOk;  // nothing to run: an answer, not a failure
    r.result = probes::ParseOpenFiles(method, {}, {});
    co_return r;
  }
  const std::shared_ptr<void> permit = options_.probe_gate ? options_.probe_gate() : nullptr;
  if (options_.probe_gate && !permit) {
    r.status = ProbeStatus::kSkipped;
    co_return r;
  }
  const std::string nonce = Nonce();
  const std::string script =
      probes::WithWatchdog(probes::OpenFilesScript(method, pid, nonce), spec_.probe_timeout);
  RunOptions options;
  options.output_limit = std::min<std::uint64_t>(spec_.output_limit, kOpenFilesOutputLimit);
  options.deadline = Clock::now() + spec_.probe_timeout;
  auto out = co_await RunOnHost(script, options);
  r.finished = std::chrono::system_clock::now();
  if (!out) {
    r.reason = out.error();
    r.status = OnRunFailed(out.error());
    co_return r;
  }
  r.raw_bytes = out->bytes;
  r.result = probes::ParseOpenFiles(method, out->out, nonce);
  if (r.result.state == probes::OpenFilesState::kBadOutput) {
    r.status = ProbeStatus::kParseError;
    r.reason = make_error_code(Errc::kParseError);
    co_return r;
  }
  r.status = ProbeStatus::kOk;
  co_return r;
}

}  // namespace fleetps::agent
