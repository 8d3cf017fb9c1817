#include "tools/labtool/labtool.h"

int main(int argc, char** argv) { return caracal::labtool::labtoolMain(argc, argv); }
