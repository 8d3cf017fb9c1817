// caracal: the CNI plugin (see cni/plugin.h). Configuration on stdin, CNI_* in the environment,
// result or error object on stdout.
#include "cni/plugin.h"

int main() { return caracal::cni::caracalMain(); }
