#include "apiserver/apiserver_main.h"

int main(int argc, char** argv) { return caracal::apiserver::apiserverMain(argc, argv); }
