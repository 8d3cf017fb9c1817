#pragma once
// Where the API server is and how to authenticate to it.
//
// A `ClientConfig` is read from a standard kubeconfig file (the apiserver writes one to
// `<data-dir>/admin.kubeconfig`) or given directly by flags and environment variables. For
// caracalctl the first source that names a server wins, in this order:
//   1. --server (with --token)                 4. $KUBECONFIG (first existing file of the list)
//   2. $CARACAL_SERVER (with $CARACAL_TOKEN)   5. /var/lib/caracal/admin.kubeconfig
//   3. --kubeconfig FILE
// An explicitly named kubeconfig that is missing or malformed is an error, never skipped.

#include "common/result.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace caracal::datastore {

constexpr const char* kDefaultAdminKubeconfig = "/var/lib/caracal/admin.kubeconfig";

struct ClientConfig {
  std::string server;        // "https://127.0.0.1:6443"
  std::string caPem;         // certificate-authority(-data), PEM; empty: system roots
  bool insecure = false;     // insecure-skip-tls-verify
  std::string token;         // bearer token; empty: none
  std::string clientCertPem; // client-certificate(-data), PEM
  std::string clientKeyPem;  // client-key(-data), PEM
  std::string namespaceName; // the context's namespace; empty: not set
  std::string source;        // where the settings came from, for messages
};

// Parses kubeconfig YAML. `context` selects a context by name; empty means current-context (or the
// only context when there is exactly one). `baseDir` resolves relative file references
// (certificate-authority, tokenFile, client-certificate, client-key); `sourceName` names the file
// in error messages.
Result<ClientConfig> parseKubeconfig(std::string_view text, std::string_view context = "",
                                     const std::string& baseDir = "",
                                     const std::string& sourceName = "kubeconfig");

// Reads and parses a kubeconfig file.
Result<ClientConfig> loadKubeconfig(const std::string& path, std::string_view context = "");

struct ConfigOverrides {
  std::string server;               // --server
  std::string token;                // --token
  std::string kubeconfig;           // --kubeconfig
  std::string context;              // --context
  std::string certificateAuthority; // --certificate-authority (a PEM file)
  bool insecureSkipTlsVerify = false;
};

// Reads an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment.
std::optional<std::string> processEnv(const std::string& name);

// Resolves the client configuration in the order above. Code::NotFound when nothing names a
// server; other errors name the file or variable at fault.
Result<ClientConfig> resolveClientConfig(const ConfigOverrides& flags, const EnvLookup& env,
                                         const std::string& defaultPath = kDefaultAdminKubeconfig);

// Standard base64, padding optional, whitespace ignored: caracal::base64Decode in Lenient mode.
Result<std::string> base64Decode(std::string_view in);

} // namespace caracal::datastore
