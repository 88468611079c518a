#pragma once

#include <string_view>

namespace fleetps::collector {

// systemd's notification protocol (sd_notify(3)) for `Type=notify` units: each call sends one
// state to $NOTIFY_SOCKET and does nothing when the collector was not started by systemd.

/// Ready: what /-/ready answers 200 for (every host agent started, the HTTP port bound).
/// `status` is a short line `systemctl status` shows.
void NotifyReady(std::string_view status);

/// A reload has started; NotifyReady ends it.
void NotifyReloading();

/// The collector is stopping.
void NotifyStopping();

}  // namespace fleetps::collector
