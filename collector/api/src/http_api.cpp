#include "fleetps/collector/api/http_api.hpp"

namespace fleetps::collector {
namespace {

// A route handler calling `method` of the handler group `group`.
template <class Group, class Method>
RouteHandler Call(Group& group, Method method) {
  return [&group, method](const ApiRequest& request) { return (group.*method)(request); };
}

// `handler` run on `workers` instead of the io thread that read the request.
RouteHandler OnWorkers(ApiWorkers& workers, RouteHandler handler) {
  return [&workers, handler = std::move(handler)](const ApiRequest& request) {
    return workers.Run(request, handler);
  };
}

}  // namespace

HttpApi::HttpApi(FleetPort& fleet, ControlPort& control, FleetBus& bus, HttpApiOptions options)
    : fresh_(options.fresh),
      workers_(options.work),
      metrics_(fleet),
      cluster_(fleet, options.cluster, metrics_, workers_),
      health_(control),
      query_(fleet, options.adhoc, fresh_, workers_, options.cluster),
      events_(bus, options.events),
      web_ui_(fleet, options.cluster) {
  using enum RouteMethods;
  router_.Add("/metrics", kGet, Call(metrics_, &MetricsHandlers::Metrics));
  router_.Add("/probe", kGet, Call(cluster_, &ClusterHandlers::Probe));
  router_.Add("/sd", kGet, Call(cluster_, &ClusterHandlers::ServiceDiscovery));
  router_.Add("/api/v1/cluster", kGet, Call(cluster_, &ClusterHandlers::Cluster));
  router_.Add("/api/v1/cluster/failsafe", kGet, Call(health_, &HealthHandlers::Failsafe));
  router_.Add("/api/v1/cluster/drain", kPost, Call(health_, &HealthHandlers::Drain));
  router_.Add("/-/healthy", kAny, Call(health_, &HealthHandlers::Healthy));
  router_.Add("/-/ready", kAny, Call(health_, &HealthHandlers::Ready));
  router_.Add("/-/reload", kPost, Call(health_, &HealthHandlers::Reload));
  router_.Add("/api/v1/processes", kGet, Call(query_, &QueryHandlers::Processes));
  router_.Add("/api/v1/listening", kGet, Call(query_, &QueryHandlers::Listening));
  router_.AddPattern("/api/v1/hosts/{host}/processes/{pid}/open-files",
                     &QueryHandlers::IsOpenFilesPath, kGet,
                     Call(query_, &QueryHandlers::OpenFiles));
  router_.Add("/api/v1/events", kGet, Call(events_, &EventHandlers::Events));
  router_.Add("/api/v1/hosts", kGet, OnWorkers(workers_, Call(query_, &QueryHandlers::Hosts)));
  router_.AddPattern("/api/v1/hosts/{host}", &QueryHandlers::IsHostPath, kGet,
                     OnWorkers(workers_, Call(query_, &QueryHandlers::Host)));
  router_.Add("/", kGet, OnWorkers(workers_, Call(web_ui_, &WebUiHandlers::Fleet)));
  router_.Add("/index.html", kGet, OnWorkers(workers_, Call(web_ui_, &WebUiHandlers::Fleet)));
  router_.Add("/query", kGet, OnWorkers(workers_, Call(web_ui_, &WebUiHandlers::Query)));
  router_.AddPattern("/hosts/{host}", &WebUiHandlers::IsHostPath, kGet,
                     OnWorkers(workers_, Call(web_ui_, &WebUiHandlers::Host)));
}

ApiRefusals HttpApi::Refusals() const {
  return ApiRefusals{fresh_.Refused(FreshScope::kClient), fresh_.Refused(FreshScope::kCollector),
                     workers_.Refused()};
}

}  // namespace fleetps::collector
