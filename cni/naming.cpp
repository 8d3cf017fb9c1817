#include "cni/naming.h"

#include <openssl/evp.h>

namespace caracal::cni {

std::string escapeDashes(std::string_view part) {
  std::string out;
  out.reserve(part.size() + 4);
  for (char c : part) {
    out += c;
    if (c == '-') {
      out += '-';
    }
  }
  return out;
}

std::string workloadEndpointName(std::string_view node, std::string_view pod,
                                 std::string_view iface) {
  return escapeDashes(node) + "-k8s-" + escapeDashes(pod) + "-" + escapeDashes(iface);
}

std::string sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string hostVethName(std::string_view podNamespace, std::string_view podName) {
  std::string key;
  key.reserve(podNamespace.size() + podName.size() + 1);
  key.append(podNamespace).append(".").append(podName);
  return std::string(kHostVethPrefix) + sha1Hex(key).substr(0, kHostVethHashChars);
}

std::string ipamHandle(std::string_view networkName, std::string_view containerId) {
  std::string out(networkName);
  out += '.';
  out.append(containerId);
  return out;
}

} // namespace caracal::cni
