#pragma once
// The caracal-apiserver command: flags, first-start set-up of the data directory, serving.

namespace caracal::apiserver {

int apiserverMain(int argc, char** argv);

} // namespace caracal::apiserver
