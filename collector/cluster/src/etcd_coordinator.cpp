#include "fleetps/collector/cluster/etcd_coordinator.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <span>
#include <utility>

#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector::cluster {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t kMaxTxnOps = 128;  // etcd's default --max-txn-ops
constexpr int kMaxGuardedRounds = 8;     // retries of one batch whose compares keep failing
constexpr std::size_t kMaxReply = 256u << 20;
// A slow member gets at least this much of the deadline before the next one is tried.
constexpr std::chrono::milliseconds kMinAttempt{300};
constexpr std::chrono::milliseconds kRoundPause{50};  // after every endpoint failed once
// A full read of the cluster prefix gets at least this long (and 4 × request_timeout).
constexpr std::chrono::milliseconds kMinRangeTimeout{8000};

std::string Base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

std::string Unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return {};
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --size;
  out.resize(size);
  return out;
}

// The end of the key range holding every key that starts with `prefix` (etcd's prefix rule).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

// The gateway writes int64 as strings and leaves zero values out.
std::int64_t Int(const json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  if (!value->is_string()) return 0;
  const auto& text = value->as_string();
  std::int64_t number = 0;
  std::from_chars(text.data(), text.data() + text.size(), number);
  return number;
}

std::string_view Str(const json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  return value != nullptr && value->is_string() ? std::string_view(value->as_string())
                                                : std::string_view();
}

const json::object& Obj(const json::object& object, std::string_view name) {
  static const json::object kEmpty;
  const auto* value = object.if_contains(name);
  return value != nullptr && value->is_object() ? value->as_object() : kEmpty;
}

const json::array& Arr(const json::object& object, std::string_view name) {
  static const json::array kEmpty;
  const auto* value = object.if_contains(name);
  return value != nullptr && value->is_array() ? value->as_array() : kEmpty;
}

KeyValue ParseKv(const json::object& kv) {
  return KeyValue{Unbase64(Str(kv, "key")), Unbase64(Str(kv, "value")), Int(kv, "create_revision"),
                  Int(kv, "mod_revision"), Int(kv, "lease")};
}

std::string Num(std::int64_t value) { return std::to_string(value); }

// The error text of a gateway answer: {"error":"...","message":"..."} for unary calls,
// {"error":{"message":"..."}} in a stream. Empty when the answer is not an error.
std::string ErrorText(const json::object& answer) {
  const auto* error = answer.if_contains("error");
  if (error == nullptr) return {};
  if (error->is_object()) return std::string(Str(error->as_object(), "message"));
  std::string text(Str(answer, "message"));
  if (text.empty() && error->is_string()) text = error->as_string();
  return text.empty() ? "error" : text;
}

enum class Verdict { kOk, kNextEndpoint, kAuthExpired, kFail };
struct Judgement {
  Verdict verdict = Verdict::kOk;
  CoordinatorErrc errc = CoordinatorErrc::kRejected;
  std::string words;
};

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// What a status and an error text mean for the call: the member cannot serve it now (next
// endpoint), the token expired, or a definite answer.
Judgement Judge(unsigned status, std::string_view text) {
  if (status == 200 && text.empty()) return {};
  std::string words = text.empty() ? "HTTP " + std::to_string(status) : std::string(text);
  if (Contains(text, "requested lease not found")) {
    return {Verdict::kFail, CoordinatorErrc::kLeaseNotFound, std::move(words)};
  }
  if (Contains(text, "invalid auth token")) return {Verdict::kAuthExpired, {}, std::move(words)};
  if (status >= 500 || status == 429 || Contains(text, "leader changed") ||
      Contains(text, "no leader") || Contains(text, "timed out") || Contains(text, "not capable") ||
      Contains(text, "too many requests")) {
    return {Verdict::kNextEndpoint, CoordinatorErrc::kUnavailable, std::move(words)};
  }
  return {Verdict::kFail, CoordinatorErrc::kRejected, std::move(words)};
}

struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

http::request<http::string_body> MakeRequest(const EtcdCoordinator::Endpoint& endpoint,
                                             const std::string& target, std::string body,
                                             const std::string& token) {
  http::request<http::string_body> request(http::verb::post, target, 11);
  request.set(http::field::host, endpoint.host);
  request.set(http::field::user_agent, "fleetps");
  request.set(http::field::content_type, "application/json");
  if (!token.empty()) request.set(http::field::authorization, token);
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

asio::awaitable<error_code> Connect(beast::tcp_stream& stream,
                                    const EtcdCoordinator::Endpoint& endpoint) {
  asio::ip::tcp::resolver resolver(stream.get_executor());
  // No structured bindings kept across a co_await (GCC 12 coroutine frames).
  auto resolved = co_await resolver.async_resolve(endpoint.host, endpoint.port, kTuple);
  if (std::get<0>(resolved)) co_return std::get<0>(resolved);
  auto [connect_ec, connected] = co_await stream.async_connect(std::get<1>(resolved), kTuple);
  co_return connect_ec;
}

// One POST to one member within `timeout`. A transport failure is an error code; any HTTP
// answer is an answer.
asio::awaitable<boost::system::result<HttpAnswer>> Post(EtcdCoordinator::Endpoint endpoint,
                                                        std::string target, std::string body,
                                                        std::string token,
                                                        std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  if (auto ec = co_await Connect(stream, endpoint)) co_return ec;
  auto request = MakeRequest(endpoint, target, std::move(body), token);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  if (write_ec) co_return write_ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReply);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (read_ec) co_return read_ec;
  error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  co_return HttpAnswer{parser.get().result_int(), std::move(parser.get().body())};
}

asio::awaitable<bool> Cancelled() {
  co_return (co_await asio::this_coro::cancellation_state).cancelled() !=
      asio::cancellation_type::none;
}

// After a round in which every endpoint failed (`attempt` is 0-based), a short pause bounded
// by `deadline` before the next round. False when cancelled.
asio::awaitable<bool> EndOfRound(std::size_t attempt, std::size_t endpoints,
                                 Clock::time_point deadline) {
  if ((attempt + 1) % endpoints != 0) co_return true;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_at(std::min(Clock::now() + kRoundPause, deadline));
  auto [ec] = co_await timer.async_wait(kTuple);
  co_return !ec;
}

std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

CoordinationResult ResultOf(const error_code& ec) {
  if (!ec) return CoordinationResult::kOk;
  if (ec == CoordinatorErrc::kLeaseNotFound) return CoordinationResult::kLeaseNotFound;
  if (ec == CoordinatorErrc::kCompacted) return CoordinationResult::kCompacted;
  if (ec == CoordinatorErrc::kRejected) return CoordinationResult::kRejected;
  if (ec == asio::error::operation_aborted) return CoordinationResult::kCancelled;
  return CoordinationResult::kUnavailable;
}

error_code ErrorOf(const error_code& ec) { return ec; }
template <class T>
error_code ErrorOf(const boost::system::result<T>& result) {
  return result ? error_code{} : result.error();
}

boost::system::result<json::object> ParseObject(std::string_view text) {
  error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return make_error_code(CoordinatorErrc::kRejected);
  return std::move(value.as_object());
}

}  // namespace

std::string_view CoordinationOpName(CoordinationOp op) noexcept {
  static constexpr std::array<std::string_view, kCoordinationOps> kNames = {
      "grant", "keepalive", "revoke", "put", "range", "claim", "release", "watch"};
  return kNames.at(static_cast<std::size_t>(op));
}

std::string_view CoordinationResultName(CoordinationResult result) noexcept {
  static constexpr std::array<std::string_view, kCoordinationResults> kNames = {
      "ok", "unavailable", "lease_not_found", "compacted", "rejected", "cancelled"};
  return kNames.at(static_cast<std::size_t>(result));
}

void CoordinationCounters::Add(CoordinationOp op, CoordinationResult result) noexcept {
  counts_[static_cast<std::size_t>(op)][static_cast<std::size_t>(result)].fetch_add(
      1, std::memory_order_relaxed);
}

std::uint64_t CoordinationCounters::Count(CoordinationOp op,
                                          CoordinationResult result) const noexcept {
  return counts_[static_cast<std::size_t>(op)][static_cast<std::size_t>(result)].load(
      std::memory_order_relaxed);
}

boost::system::result<std::unique_ptr<EtcdCoordinator>, std::string> EtcdCoordinator::Create(
    asio::any_io_executor executor, EtcdOptions options) {
  if (options.endpoints.empty()) return std::string("etcd: no endpoints");
  if (options.request_timeout <= std::chrono::milliseconds::zero()) {
    return std::string("etcd: request_timeout must be positive");
  }
  std::vector<Endpoint> endpoints;
  for (const auto& url : options.endpoints) {
    constexpr std::string_view kHttp = "http://";
    if (url.starts_with("https://")) {
      std::string words = "etcd endpoint ";
      words += url;
      words += ": TLS to etcd is not supported yet (use http:// on a trusted network)";
      return words;
    }
    std::string_view rest(url);
    if (rest.starts_with(kHttp)) rest.remove_prefix(kHttp.size());
    while (rest.ends_with('/')) rest.remove_suffix(1);
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size() ||
        rest.find('/') != std::string_view::npos) {
      std::string words = "etcd endpoint must look like http://HOST:PORT, got \"";
      words += url;
      words += '"';
      return words;
    }
    std::string host(rest.substr(0, colon));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    endpoints.push_back({url, std::move(host), std::string(rest.substr(colon + 1))});
  }
  return std::unique_ptr<EtcdCoordinator>(
      new EtcdCoordinator(std::move(executor), std::move(options), std::move(endpoints)));
}

EtcdCoordinator::EtcdCoordinator(asio::any_io_executor executor, EtcdOptions options,
                                 std::vector<Endpoint> endpoints)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      endpoints_(std::move(endpoints)) {}

error_code EtcdCoordinator::Fail(CoordinatorErrc errc, std::string words) {
  last_error_ = std::move(words);
  return make_error_code(errc);
}

template <class T>
T EtcdCoordinator::Count(CoordinationOp op, T outcome) {
  counters_.Add(op, ResultOf(ErrorOf(outcome)));
  return outcome;
}

asio::awaitable<error_code> EtcdCoordinator::Authenticate(Clock::time_point deadline) {
  json::object request{{"name", options_.username}, {"password", options_.password}};
  const std::string body = json::serialize(request);
  token_.clear();
  for (std::size_t attempt = 0; Clock::now() < deadline; ++attempt) {
    const std::size_t index = (preferred_ + attempt) % endpoints_.size();
    const auto remaining = Remaining(deadline);
    auto answer = co_await Post(endpoints_[index], "/v3/auth/authenticate", body, {},
                                std::max(std::min(remaining, kMinAttempt), remaining / 2));
    const bool cancelled = co_await Cancelled();
    if (cancelled) co_return asio::error::operation_aborted;
    if (!answer) {
      last_error_ = endpoints_[index].url + ": " + answer.error().message();
      const bool go_on = co_await EndOfRound(attempt, endpoints_.size(), deadline);
      if (!go_on) co_return asio::error::operation_aborted;
      continue;
    }
    auto object = ParseObject(answer->body);
    const std::string text =
        object ? ErrorText(*object) : std::string("unreadable answer to authenticate");
    auto judgement = Judge(answer->status, text);
    if (judgement.verdict == Verdict::kOk) {
      token_ = Str(*object, "token");
      preferred_ = index;
      co_return error_code{};
    }
    if (judgement.verdict != Verdict::kNextEndpoint) {
      co_return Fail(CoordinatorErrc::kRejected, endpoints_[index].url + ": authenticate as " +
                                                     options_.username + ": " + judgement.words);
    }
    last_error_ = endpoints_[index].url + ": " + judgement.words;
    const bool go_on = co_await EndOfRound(attempt, endpoints_.size(), deadline);
    if (!go_on) co_return asio::error::operation_aborted;
  }
  co_return Fail(CoordinatorErrc::kUnavailable,
                 "no etcd endpoint answered in time; last: " + last_error_);
}

asio::awaitable<boost::system::result<std::string>> EtcdCoordinator::Call(std::string target,
                                                                          std::string body) {
  co_await asio::this_coro::throw_if_cancelled(false);
  co_return co_await CallWithin(std::move(target), std::move(body),
                                Clock::now() + options_.request_timeout);
}

asio::awaitable<boost::system::result<std::string>> EtcdCoordinator::CallWithin(
    std::string target, std::string body, Clock::time_point deadline) {
  bool reauthenticated = false;
  if (!options_.username.empty() && token_.empty()) {
    if (auto ec = co_await Authenticate(deadline)) co_return ec;
    reauthenticated = true;
  }
  const std::size_t n = endpoints_.size();
  std::size_t start = preferred_;
  for (std::size_t attempt = 0;; ++attempt) {
    const auto remaining = Remaining(deadline);
    if (remaining <= std::chrono::milliseconds::zero()) break;
    const std::size_t index = (start + attempt) % n;
    // Each endpoint still untried in this round gets an equal share of what is left.
    const auto share = remaining / static_cast<long>(n - attempt % n);
    auto answer = co_await Post(endpoints_[index], target, body, token_,
                                std::min(remaining, std::max(share, kMinAttempt)));
    const bool cancelled = co_await Cancelled();
    if (cancelled) co_return asio::error::operation_aborted;
    Judgement judgement;
    if (!answer) {
      judgement = {Verdict::kNextEndpoint, CoordinatorErrc::kUnavailable,
                   answer.error() == beast::error::timeout ? std::string("no answer in time")
                                                           : answer.error().message()};
    } else {
      auto object = ParseObject(answer->body);
      if (!object) {
        judgement = {Verdict::kNextEndpoint, CoordinatorErrc::kUnavailable,
                     "unreadable answer (HTTP " + std::to_string(answer->status) + ")"};
      } else {
        judgement = Judge(answer->status, ErrorText(*object));
      }
    }
    switch (judgement.verdict) {
      case Verdict::kOk:
        preferred_ = index;
        co_return std::move(answer->body);
      case Verdict::kFail:
        co_return Fail(judgement.errc, endpoints_[index].url + ": " + judgement.words);
      case Verdict::kAuthExpired:
        if (reauthenticated || options_.username.empty()) {
          co_return Fail(CoordinatorErrc::kRejected,
                         endpoints_[index].url + ": " + judgement.words);
        }
        if (auto ec = co_await Authenticate(deadline)) co_return ec;
        reauthenticated = true;
        start = preferred_ + n - (attempt + 1) % n;  // the same endpoint again
        break;
      case Verdict::kNextEndpoint:
        last_error_ = endpoints_[index].url + ": " + judgement.words;
        const bool go_on = co_await EndOfRound(attempt, n, deadline);
        if (!go_on) co_return asio::error::operation_aborted;
        break;
    }
  }
  co_return Fail(CoordinatorErrc::kUnavailable,
                 "no etcd endpoint answered in time; last: " + last_error_);
}

asio::awaitable<boost::system::result<std::pair<LeaseId, std::chrono::seconds>>>
EtcdCoordinator::GrantLease(std::chrono::seconds ttl) {
  using Out = boost::system::result<std::pair<LeaseId, std::chrono::seconds>>;
  const json::object request{{"TTL", Num(ttl.count())}};
  auto answer = co_await Call("/v3/lease/grant", json::serialize(request));
  if (!answer) co_return Count<Out>(CoordinationOp::kGrant, answer.error());
  auto object = ParseObject(*answer);
  if (!object || Int(*object, "ID") == 0) {
    co_return Count<Out>(CoordinationOp::kGrant,
                         Fail(CoordinatorErrc::kRejected, "lease grant: no lease in the answer"));
  }
  co_return Count<Out>(CoordinationOp::kGrant,
                       std::pair{Int(*object, "ID"), std::chrono::seconds(Int(*object, "TTL"))});
}

asio::awaitable<boost::system::result<std::chrono::seconds>> EtcdCoordinator::KeepAlive(
    LeaseId lease) {
  using Out = boost::system::result<std::chrono::seconds>;
  // A stream endpoint: the answer is one line {"result":{...}}; an unknown lease gets TTL 0.
  const json::object request{{"ID", Num(lease)}};
  auto answer = co_await Call("/v3/lease/keepalive", json::serialize(request));
  if (!answer) co_return Count<Out>(CoordinationOp::kKeepAlive, answer.error());
  const auto line = std::string_view(*answer).substr(0, answer->find('\n'));
  auto object = ParseObject(line);
  if (!object) {
    co_return Count<Out>(CoordinationOp::kKeepAlive,
                         Fail(CoordinatorErrc::kUnavailable, "keepalive: unreadable answer"));
  }
  const auto text = ErrorText(*object);
  if (!text.empty()) {
    const auto judgement = Judge(500, text);
    co_return Count<Out>(
        CoordinationOp::kKeepAlive,
        Fail(judgement.errc == CoordinatorErrc::kLeaseNotFound ? CoordinatorErrc::kLeaseNotFound
                                                               : CoordinatorErrc::kUnavailable,
             "keepalive: " + text));
  }
  const auto ttl = Int(Obj(*object, "result"), "TTL");
  if (ttl <= 0) {
    co_return Count<Out>(
        CoordinationOp::kKeepAlive,
        Fail(CoordinatorErrc::kLeaseNotFound, "keepalive: lease " + Num(lease) + " not found"));
  }
  co_return Count<Out>(CoordinationOp::kKeepAlive, std::chrono::seconds(ttl));
}

asio::awaitable<error_code> EtcdCoordinator::Revoke(LeaseId lease) {
  const json::object request{{"ID", Num(lease)}};
  auto answer = co_await Call("/v3/lease/revoke", json::serialize(request));
  co_return Count(CoordinationOp::kRevoke, ErrorOf(answer));
}

asio::awaitable<boost::system::result<Revision>> EtcdCoordinator::Put(std::string key,
                                                                      std::string value,
                                                                      LeaseId lease) {
  using Out = boost::system::result<Revision>;
  json::object request{{"key", Base64(key)}, {"value", Base64(value)}};
  if (lease != 0) request["lease"] = Num(lease);
  auto answer = co_await Call("/v3/kv/put", json::serialize(request));
  if (!answer) co_return Count<Out>(CoordinationOp::kPut, answer.error());
  auto object = ParseObject(*answer);
  if (!object) co_return Count<Out>(CoordinationOp::kPut, object.error());
  co_return Count<Out>(CoordinationOp::kPut, Int(Obj(*object, "header"), "revision"));
}

asio::awaitable<boost::system::result<Snapshot>> EtcdCoordinator::Range(std::string prefix) {
  using Out = boost::system::result<Snapshot>;
  json::object request{{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}};
  // The whole cluster prefix (16,384 claims and more) is one answer of megabytes; on a busy
  // store it takes seconds (1.4-3 s measured under load after a quorum loss), which the short
  // deadline of a keepalive-sized call never allows: members then never rebuilt their view.
  const auto range_timeout = std::max(4 * options_.request_timeout, kMinRangeTimeout);
  co_await asio::this_coro::throw_if_cancelled(false);
  auto answer =
      co_await CallWithin("/v3/kv/range", json::serialize(request), Clock::now() + range_timeout);
  if (!answer) co_return Count<Out>(CoordinationOp::kRange, answer.error());
  auto object = ParseObject(*answer);
  if (!object) co_return Count<Out>(CoordinationOp::kRange, object.error());
  Snapshot snapshot;
  snapshot.revision = Int(Obj(*object, "header"), "revision");
  for (const auto& kv : Arr(*object, "kvs")) {
    if (kv.is_object()) snapshot.kvs.push_back(ParseKv(kv.as_object()));
  }
  co_return Count<Out>(CoordinationOp::kRange, std::move(snapshot));
}

namespace {

// One guarded batch (claim: create if absent; release: delete if unchanged). Its failure
// branch reads every key, which tells, per key, whether it is still worth a new round.
struct GuardedItem {
  std::string key;
  json::object compare;
  json::object success;
};

json::object TxnOf(std::span<const GuardedItem* const> items) {
  json::array compare, success, failure;
  for (const auto* item : items) {
    compare.push_back(item->compare);
    success.push_back(item->success);
    failure.push_back(json::object{{"request_range", json::object{{"key", Base64(item->key)}}}});
  }
  return json::object{{"compare", std::move(compare)},
                      {"success", std::move(success)},
                      {"failure", std::move(failure)}};
}

}  // namespace

// What becomes of an item whose transaction failed, from the key's current state.
enum class Guarded { kRetry, kLost, kWon };

// `decide(index, current)` judges, for an item whose batch failed, from the key's current
// state (nullopt = absent).
template <class Decide>
asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> RunGuarded(
    const std::vector<GuardedItem>& items, Decide decide,
    std::function<asio::awaitable<boost::system::result<std::string>>(std::string)> txn) {
  std::vector<ClaimOutcome> outcomes(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) outcomes[i].key = items[i].key;
  for (std::size_t begin = 0; begin < items.size(); begin += kMaxTxnOps) {
    std::vector<std::size_t> pending;
    for (std::size_t i = begin; i < std::min(items.size(), begin + kMaxTxnOps); ++i) {
      pending.push_back(i);
    }
    for (int round = 0; !pending.empty(); ++round) {
      if (round == kMaxGuardedRounds) co_return make_error_code(CoordinatorErrc::kUnavailable);
      std::vector<const GuardedItem*> batch;
      for (auto i : pending) batch.push_back(&items[i]);
      auto answer = co_await txn(json::serialize(TxnOf(batch)));
      if (!answer) co_return answer.error();
      auto object = ParseObject(*answer);
      if (!object) co_return object.error();
      const auto* succeeded = object->if_contains("succeeded");
      if (succeeded != nullptr && succeeded->is_bool() && succeeded->as_bool()) {
        for (auto i : pending) outcomes[i].won = true;
        break;
      }
      const auto& responses = Arr(*object, "responses");
      std::vector<std::size_t> again;
      for (std::size_t j = 0; j < pending.size(); ++j) {
        std::optional<KeyValue> current;
        if (j < responses.size() && responses[j].is_object()) {
          const auto& kvs = Arr(Obj(responses[j].as_object(), "response_range"), "kvs");
          if (!kvs.empty() && kvs[0].is_object()) current = ParseKv(kvs[0].as_object());
        }
        switch (decide(pending[j], current)) {
          case Guarded::kRetry:
            again.push_back(pending[j]);
            break;
          case Guarded::kWon:
            outcomes[pending[j]].won = true;
            break;
          case Guarded::kLost:
            if (current) outcomes[pending[j]].holder_value = current->value;
            break;
        }
      }
      pending = std::move(again);
    }
  }
  co_return outcomes;
}

asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> EtcdCoordinator::Claim(
    std::vector<std::string> keys, std::string value, LeaseId lease) {
  using Out = boost::system::result<std::vector<ClaimOutcome>>;
  std::vector<GuardedItem> items;
  items.reserve(keys.size());
  const std::string encoded_value = Base64(value);
  for (auto& key : keys) {
    const std::string encoded = Base64(key);
    json::object put{{"key", encoded}, {"value", encoded_value}};
    if (lease != 0) put["lease"] = Num(lease);
    items.push_back(
        {std::move(key),
         json::object{
             {"key", encoded}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}},
         json::object{{"request_put", std::move(put)}}});
  }
  // A key that exists under this lease with this value is ours: created by an earlier attempt
  // of the same transaction whose answer was lost (Call moves on to the next endpoint when one
  // is slow, and the slow one may have committed), or by an earlier call.
  const auto decide = [&value, lease](std::size_t, const std::optional<KeyValue>& current) {
    if (!current) return Guarded::kRetry;
    if (lease != 0 && current->lease == lease && current->value == value) return Guarded::kWon;
    return Guarded::kLost;
  };
  auto outcome = co_await RunGuarded(
      items, decide, [this](std::string body) { return Call("/v3/kv/txn", std::move(body)); });
  co_return Count<Out>(CoordinationOp::kClaim, std::move(outcome));
}

asio::awaitable<boost::system::result<std::vector<ClaimOutcome>>> EtcdCoordinator::Release(
    std::vector<std::pair<std::string, Revision>> keys) {
  using Out = boost::system::result<std::vector<ClaimOutcome>>;
  std::vector<GuardedItem> items;
  items.reserve(keys.size());
  for (auto& [key, revision] : keys) {
    const std::string encoded = Base64(key);
    items.push_back({key,
                     json::object{{"key", encoded},
                                  {"target", "MOD"},
                                  {"result", "EQUAL"},
                                  {"mod_revision", Num(revision)}},
                     json::object{{"request_delete_range", json::object{{"key", encoded}}}}});
  }
  const auto unchanged = [&keys](std::size_t i, const std::optional<KeyValue>& current) {
    return current && current->mod_revision == keys[i].second ? Guarded::kRetry : Guarded::kLost;
  };
  auto outcome = co_await RunGuarded(
      items, unchanged, [this](std::string body) { return Call("/v3/kv/txn", std::move(body)); });
  co_return Count<Out>(CoordinationOp::kRelease, std::move(outcome));
}

asio::awaitable<error_code> EtcdCoordinator::Watch(
    std::string prefix, Revision from_revision, std::function<void(const WatchBatch&)> on_batch) {
  co_await asio::this_coro::throw_if_cancelled(false);
  json::object create{{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}};
  if (from_revision > 0) create["start_revision"] = Num(from_revision);
  const std::string body = json::serialize(json::object{{"create_request", std::move(create)}});
  const auto deadline = Clock::now() + options_.request_timeout;
  bool reauthenticated = false;
  if (!options_.username.empty() && token_.empty()) {
    if (auto ec = co_await Authenticate(deadline)) co_return Count(CoordinationOp::kWatch, ec);
    reauthenticated = true;
  }
  const std::size_t n = endpoints_.size();
  for (std::size_t attempt = 0;; ++attempt) {
    const auto remaining = Remaining(deadline);
    if (remaining <= std::chrono::milliseconds::zero()) break;
    const std::size_t index = (preferred_ + attempt) % n;
    const auto& endpoint = endpoints_[index];
    beast::tcp_stream stream(executor_);
    stream.expires_after(
        std::min(remaining, std::max(remaining / static_cast<long>(n - attempt % n), kMinAttempt)));
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a stream has no length
    std::array<char, 16 * 1024> chunk{};
    std::string pending;  // bytes of a line not complete yet
    bool created = false;
    error_code ec = co_await Connect(stream, endpoint);
    if (!ec) {
      auto request = MakeRequest(endpoint, "/v3/watch", body, token_);
      auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
      ec = write_ec;
    }
    if (!ec) {
      auto [header_ec, header_bytes] =
          co_await http::async_read_header(stream, buffer, parser, kTuple);
      ec = header_ec;
    }
    std::string failure;
    // A stream's error comes after a 200 header: its own http_code says what it is.
    unsigned failure_status = 500;
    while (!ec && failure.empty()) {
      // A cancellation that came while the last read was already complete (its handler
      // queued) reached no operation: without this check the next read, with no deadline,
      // waits for etcd's next event, and the caller's session never ended (T6).
      const bool stop = co_await Cancelled();
      if (stop) {
        ec = asio::error::operation_aborted;
        break;
      }
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      auto [read_ec, read] = co_await http::async_read_some(stream, buffer, parser, kTuple);
      if (read_ec && read_ec != http::error::need_buffer) {
        ec = read_ec;
        break;
      }
      pending.append(chunk.data(), chunk.size() - parser.get().body().size);
      for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
        const std::string line = pending.substr(0, end);
        pending.erase(0, end + 1);
        if (line.empty()) continue;
        auto object = ParseObject(line);
        if (!object) {
          failure = "unreadable watch message";
          break;
        }
        if (auto text = ErrorText(*object); !text.empty()) {
          failure = std::move(text);
          const auto code = Int(Obj(*object, "error"), "http_code");
          if (code >= 400 && code < 600) failure_status = static_cast<unsigned>(code);
          break;
        }
        const auto& result = Obj(*object, "result");
        if (Int(result, "compact_revision") > 0) {
          co_return Count(CoordinationOp::kWatch,
                          Fail(CoordinatorErrc::kCompacted,
                               "watch " + prefix + " from revision " + Num(from_revision) +
                                   ": compacted up to " + Num(Int(result, "compact_revision"))));
        }
        if (const auto* canceled = result.if_contains("canceled");
            canceled != nullptr && canceled->is_bool() && canceled->as_bool()) {
          failure = "watch canceled by etcd: ";
          failure += Str(result, "cancel_reason");
          failure_status = 400;  // a refusal (permission), not an outage
          break;
        }
        if (!created) {
          created = true;
          preferred_ = index;
          stream.expires_never();  // from here on, silence is normal
        }
        WatchBatch batch;
        batch.revision = Int(Obj(result, "header"), "revision");
        for (const auto& event : Arr(result, "events")) {
          if (!event.is_object()) continue;
          WatchEvent out;
          out.type = Str(event.as_object(), "type") == "DELETE" ? WatchEvent::Type::kDelete
                                                                : WatchEvent::Type::kPut;
          out.kv = ParseKv(Obj(event.as_object(), "kv"));
          batch.events.push_back(std::move(out));
        }
        if (!batch.events.empty()) on_batch(batch);
      }
      if (parser.is_done() && failure.empty()) ec = http::error::end_of_stream;
    }
    const bool cancelled = co_await Cancelled();
    if (cancelled || ec == asio::error::operation_aborted) {
      co_return Count(CoordinationOp::kWatch, error_code(asio::error::operation_aborted));
    }
    const unsigned status = parser.is_header_done() ? parser.get().result_int() : 0;
    if (failure.empty() && status != 0 && status != 200) failure = "HTTP " + std::to_string(status);
    if (!failure.empty()) {
      auto judgement = Judge(status == 200 ? failure_status : status, failure);
      if (judgement.verdict == Verdict::kAuthExpired && !reauthenticated &&
          !options_.username.empty()) {
        if (auto auth_ec = co_await Authenticate(deadline)) {
          co_return Count(CoordinationOp::kWatch, auth_ec);
        }
        reauthenticated = true;
        continue;
      }
      if (created || judgement.verdict != Verdict::kNextEndpoint) {
        co_return Count(CoordinationOp::kWatch, Fail(created ? CoordinatorErrc::kUnavailable
                                                     : judgement.verdict == Verdict::kAuthExpired
                                                         ? CoordinatorErrc::kRejected
                                                         : judgement.errc,
                                                     endpoint.url + ": watch: " + judgement.words));
      }
      last_error_ = endpoint.url + ": watch: " + judgement.words;
    } else {
      const std::string words =
          ec == beast::error::timeout ? std::string("no answer in time") : ec.message();
      if (created) {
        co_return Count(CoordinationOp::kWatch, Fail(CoordinatorErrc::kUnavailable,
                                                     endpoint.url + ": watch ended: " + words));
      }
      last_error_ = endpoint.url + ": watch: " + words;
    }
    const bool go_on = co_await EndOfRound(attempt, n, deadline);
    if (!go_on) {
      co_return Count(CoordinationOp::kWatch, error_code(asio::error::operation_aborted));
    }
  }
  co_return Count(CoordinationOp::kWatch,
                  Fail(CoordinatorErrc::kUnavailable,
                       "no etcd endpoint accepted the watch in time; last: " + last_error_));
}

}  // namespace fleetps::collector::cluster
