// AskMembers: the coordinator's requests to its peers (cluster_query.hpp).
#include <memory>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json.hpp>

#include "fleetps/collector/api/adhoc.hpp"
#include "fleetps/collector/api/cluster_query.hpp"
#include "fleetps/collector/http/http_client.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;

// "2s", "2.5s".
std::string SecondsText(std::chrono::milliseconds d) {
  std::string text = std::to_string(d.count() / 1000);
  if (const auto ms = d.count() % 1000; ms != 0) {
    std::string frac = std::to_string(1000 + ms).substr(1);
    while (frac.back() == '0') frac.pop_back();
    text.append(".").append(frac);
  }
  return text.append("s");
}

// The message of an error answer, or its first line when it is not the API's JSON.
std::string ErrorMessage(const std::string& body) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(body, ec);
  if (!ec && doc.is_object()) {
    const auto* error = doc.get_object().if_contains("error");
    const auto* message = error != nullptr && error->is_object()
                              ? error->get_object().if_contains("message")
                              : nullptr;
    if (message != nullptr && message->is_string()) return std::string(message->get_string());
  }
  std::string line = body.substr(0, std::min(body.find('\n'), std::size_t{200}));
  return line;
}

std::string HttpFailure(unsigned status, const std::string& body) {
  std::string error = "HTTP " + std::to_string(status);
  if (const std::string message = ErrorMessage(body); !message.empty()) {
    error.append(": ").append(message);
  }
  return error;
}

MemberAnswer FromReply(MemberAnswer answer,
                       const boost::system::result<HttpReply, HttpClientError>& reply,
                       std::chrono::milliseconds deadline) {
  if (!reply) {
    answer.error = reply.error().code == boost::beast::error::timeout
                       ? "did not answer within " + SecondsText(deadline)
                       : reply.error().message;
  } else if (reply->status != 200) {
    answer.error = HttpFailure(reply->status, reply->body);
  } else {
    answer.body = reply->body;
  }
  return answer;
}

}  // namespace

asio::awaitable<std::vector<MemberAnswer>> AskMembers(
    const cluster::ClusterView& view, const std::vector<std::size_t>& members,
    const ApiRequest& request, const std::string& local_query, std::chrono::milliseconds deadline,
    std::size_t max_answer_bytes, const LocalAnswer& self, std::string peer_ca_file) {
  auto batch = std::make_shared<detail::FanOutBatch<MemberAnswer>>(members.size());
  std::vector<MemberAnswer> answers(members.size());
  HttpClientOptions client;
  client.authorization = std::string(request.http[boost::beast::http::field::authorization]);
  client.ca_file = std::move(peer_ca_file);
  std::string target = request.path;
  target.append("?").append(local_query);
  const auto executor = co_await asio::this_coro::executor;
  std::optional<std::size_t> self_slot;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const cluster::MemberView& member = view.members[members[i]];
    answers[i].member = member.spec.name;
    if (member.self) {
      self_slot = i;
      continue;
    }
    answers[i].advertise = member.advertise;
    // Everything by value: a late answer finishes after this coroutine has returned.
    asio::co_spawn(
        executor, AsyncHttpGet(member.advertise, target, deadline, client, max_answer_bytes),
        [batch, i, base = answers[i], deadline](
            std::exception_ptr error, boost::system::result<HttpReply, HttpClientError> reply) {
          if (error) {
            RecordInternalException("cluster_fanout", error);
            MemberAnswer failed = base;
            failed.error = "internal error";
            batch->Settle(i, std::move(failed));
            return;
          }
          batch->Settle(i, FromReply(base, reply, deadline));
        });
  }
  batch->SettleUnstarted(self_slot ? 1 : 0);
  if (self_slot) {
    const ApiRequest local{request.http, request.path, local_query, request.peer};
    HttpAnswer own = co_await self(local);
    const unsigned status = own.response.result_int();
    if (status == 200) {
      answers[*self_slot].body = std::move(own.response.body());
    } else {
      answers[*self_slot].error = HttpFailure(status, own.response.body());
    }
  }
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(executor);
  // The peers' own deadlines end their requests; the margin covers a name that will not resolve.
  timer.expires_after(deadline + std::chrono::milliseconds(250));
  (void)co_await (batch->done.Wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  std::lock_guard lock(batch->mu);
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (self_slot && i == *self_slot) continue;
    if (batch->results[i]) {
      answers[i] = std::move(*batch->results[i]);
    } else {
      answers[i].error = "did not answer within " + SecondsText(deadline);
    }
  }
  co_return answers;
}

}  // namespace fleetps::collector
