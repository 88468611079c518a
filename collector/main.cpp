#include <iostream>
#include <string_view>
#include <vector>

#include "fleetps/collector/cli/cli.hpp"

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  return fleetps::collector::RunCli(args, std::cout, std::cerr);
}
