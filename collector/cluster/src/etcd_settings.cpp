#include "fleetps/collector/cluster/etcd_settings.hpp"
#include "fleetps/config/secret_file.hpp"

#include <openssl/evp.h>

#include <array>

namespace fleetps::collector::cluster {

OwnershipOptions OwnershipOptionsFor(const config::ClusterSettings& cluster) {
  OwnershipOptions o;
  o.cluster = cluster.name;
  o.buckets = cluster.buckets;
  o.lease_ttl = std::chrono::ceil<std::chrono::seconds>(cluster.etcd.lease_ttl);
  o.request_timeout = cluster.etcd.request_timeout;
  o.fence_margin = cluster.fence_margin;
  o.settle = cluster.settle;
  o.min_members = cluster.min_members;
  o.min_members_timeout = cluster.min_members_timeout;
  o.max_hosts = cluster.max_hosts;
  o.failsafe = cluster.failsafe;
  o.handover_warm_timeout = cluster.handover_warm_timeout;
  o.drain_timeout = cluster.drain_timeout;
  return o;
}

boost::system::result<EtcdOptions, std::string> EtcdOptionsFor(
    const config::ClusterSettings& cluster) {
  EtcdOptions o;
  o.endpoints = cluster.etcd.endpoints;
  o.request_timeout = cluster.etcd.request_timeout;
  o.username = cluster.etcd.username;
  o.ca_file = cluster.etcd.ca_file;
  o.cert_file = cluster.etcd.cert_file;
  o.key_file = cluster.etcd.key_file;
  if (!cluster.etcd.password_file.empty()) {
    auto password = config::ReadSecretLine(cluster.etcd.password_file);
    if (!password) {
      std::string error = "cannot read cluster.etcd.password_file ";
      error += cluster.etcd.password_file;
      return error;
    }
    o.password = std::move(*password);
  }
  return o;
}

std::string InventorySha256(std::span<const config::HostSpec> hosts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const config::HostSpec& h : hosts) {
    std::string line = h.name;
    line += ' ';
    line += h.address;
    line += ' ';
    line += std::to_string(h.port);
    line += '\n';
    EVP_DigestUpdate(ctx, line.data(), line.size());
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned length = 0;
  EVP_DigestFinal_ex(ctx, digest.data(), &length);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

}  // namespace fleetps::collector::cluster
