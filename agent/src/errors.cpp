#include "fleetps/agent/errors.hpp"

#include <cerrno>
#include <string>

namespace fleetps::agent {
namespace {

constexpr Errc kAll[] = {
    Errc::kConnectRefused,  Errc::kConnectTimeout,  Errc::kDns,
    Errc::kBannerTimeout,   Errc::kKexFailed,       Errc::kHostkeyUnknown,
    Errc::kHostkeyMismatch, Errc::kAuthDenied,      Errc::kChannelFailed,
    Errc::kTimeout,         Errc::kTooLarge,        Errc::kParseError,
    Errc::kDisconnected,    Errc::kCommandFailed,   Errc::kInternal,
    Errc::kFdLimit,         Errc::kKnownHostsWrite, Errc::kShellFailed,
};

// error_category's destructor is protected and non-virtual by design (categories are static).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fleetps.agent"; }
  std::string message(int ev) const override {
    return std::string(ReasonName(static_cast<Errc>(ev)));
  }
};
#pragma GCC diagnostic pop

}  // namespace

std::string_view ReasonName(Errc e) noexcept {
  switch (e) {
    case Errc::kConnectRefused:
      return "connect_refused";
    case Errc::kConnectTimeout:
      return "connect_timeout";
    case Errc::kDns:
      return "dns";
    case Errc::kBannerTimeout:
      return "banner_timeout";
    case Errc::kKexFailed:
      return "kex_failed";
    case Errc::kHostkeyUnknown:
      return "hostkey_unknown";
    case Errc::kHostkeyMismatch:
      return "hostkey_mismatch";
    case Errc::kAuthDenied:
      return "auth_denied";
    case Errc::kChannelFailed:
      return "channel_failed";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kTooLarge:
      return "too_large";
    case Errc::kParseError:
      return "parse_error";
    case Errc::kDisconnected:
      return "disconnected";
    case Errc::kCommandFailed:
      return "command_failed";
    case Errc::kInternal:
      return "internal";
    case Errc::kFdLimit:
      return "fd_limit";
    case Errc::kKnownHostsWrite:
      return "known_hosts_write";
    case Errc::kShellFailed:
      return "shell_failed";
  }
  return "internal";
}

std::string_view ReasonName(const boost::system::error_code& ec) noexcept {
  if (!ec) return "";  // no failure
  if (ec.category() == AgentCategory()) return ReasonName(static_cast<Errc>(ec.value()));
  return "internal";
}

const Errc (&AllReasons() noexcept)[18] { return kAll; }

Errc LocalFailure(int errno_value) noexcept {
  return errno_value == EMFILE || errno_value == ENFILE ? Errc::kFdLimit : Errc::kInternal;
}

bool IsOutOfDescriptors(const boost::system::error_code& ec) noexcept {
  return (ec.category() == boost::system::system_category() ||
          ec.category() == boost::system::generic_category()) &&
         (ec.value() == EMFILE || ec.value() == ENFILE);
}

const boost::system::error_category& AgentCategory() noexcept {
  static const Category category;
  return category;
}

bool OpensCircuit(const boost::system::error_code& ec) noexcept {
  return ec == Errc::kAuthDenied || ec == Errc::kHostkeyUnknown || ec == Errc::kHostkeyMismatch ||
         ec == Errc::kKnownHostsWrite;
}

}  // namespace fleetps::agent
