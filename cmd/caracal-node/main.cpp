#include "felix/node_main.h"

int main(int argc, char** argv) { return caracal::felix::nodeMain(argc, argv); }
