#include "service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <ctime>
#include <string>

namespace fleetps::collector {
namespace {

void Notify(const std::string& state) {
  // A failed notification must not stop the collector: systemd then times the start out and
  // says so itself.
  (void)sd_notify(0, state.c_str());
}

}  // namespace

void NotifyReady(std::string_view status) { Notify("READY=1\nSTATUS=" + std::string(status)); }

void NotifyReloading() {
  // MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) tell this reload from an older one.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL +
                    static_cast<unsigned long long>(now.tv_nsec) / 1'000ULL;
  Notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void NotifyStopping() { Notify("STOPPING=1"); }

}  // namespace fleetps::collector
