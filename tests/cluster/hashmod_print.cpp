// Prints `NAME SHARD` for each line NAME of stdin: fleetps' HashMod(NAME, N), N the only
// argument. The Prometheus hashmod test compares it with what a real Prometheus keeps.
#include <cstdlib>
#include <iostream>
#include <string>

#include "fleetps/collector/cluster/assignment.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: cluster_hashmod_print MODULUS < names\n";
    return 2;
  }
  const std::uint64_t modulus = std::strtoull(argv[1], nullptr, 10);
  if (modulus == 0) return 2;
  std::string name;
  while (std::getline(std::cin, name)) {
    const auto shard = fleetps::collector::cluster::HashMod(name, modulus);
    if (!shard) {
      std::cerr << "no MD5 in this OpenSSL\n";
      return 1;
    }
    std::cout << name << ' ' << *shard << '\n';
  }
  return 0;
}
