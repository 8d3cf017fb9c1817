#include "ctl/ctl.h"

#include <iostream>

int main(int argc, char** argv) {
  return caracal::ctl::runCaracalctl(argc, argv, std::cout, std::cerr);
}
