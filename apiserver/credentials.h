#pragma once
// Security material of caracal-apiserver: a private CA, the serving certificate, the admin bearer
// token and the admin kubeconfig. Everything here is a function over files; nothing listens or
// connects.
//
// Layout of the data directory (created with mode 0700 when absent):
//
//   ca.key      ECDSA P-256 private key of the CA (PKCS#8 PEM, 0600)
//   ca.crt      self-signed CA certificate, CN "caracal-ca" (PEM, 0644)
//   server.key  ECDSA P-256 private key of the serving certificate (PKCS#8 PEM, 0600)
//   server.crt  serving certificate, CN "caracal-apiserver", signed by ca.key (PEM, 0644)
//   token       admin bearer token: 32 random bytes, base64url without padding, one line (0600)
//   .lock       advisory lock held while the files above are checked or written
//
// Validity: the CA lives 10 years. The serving certificate lives 1 year and is re-issued from the
// existing CA at start-up once fewer than 90 days remain, so an apiserver that is restarted at
// least every nine months never serves an expired certificate; clients that trust ca.crt never
// notice the renewal. Both start one hour in the past to tolerate clock skew between machines.
//
// Reuse rules on later starts:
//  - ca.crt and ca.key are loaded and must match; they are never replaced while ca.crt exists
//    (clients may already trust it). A missing ca.crt means "no CA yet": a new CA is generated,
//    and with it a new serving certificate.
//  - server.crt/server.key are kept when they match each other, verify against the CA, cover every
//    requested subject alternative name and have at least 90 days left. Otherwise a new key and
//    certificate are issued from the existing CA, with exactly the requested SANs.
//  - the token is kept as long as its file exists.
// A file that exists but cannot be parsed (a corrupted key, a truncated certificate) is an error
// that names the file; it is never silently replaced.
//
// Every file is written atomically: a temporary file in the same directory, fsync, rename, fsync of
// the directory. I/O errors name the file and carry the OS error text.

#include "common/base64.h"
#include "common/result.h"

#include <string>
#include <string_view>
#include <vector>

namespace caracal::apiserver {

struct Credentials {
  std::string caCertPem; // CA certificate (empty with a user-provided certificate and no caFile)
  // Serving certificate: the generated leaf only (the CA is separate); a user-provided certFile is
  // passed through as-is, so it may carry intermediates.
  std::string serverCertPem;
  std::string serverKeyPem; // private key of the serving certificate
  std::string token;        // admin bearer token
  std::string caCertPath, serverCertPath, serverKeyPath, tokenPath; // where they live
};

struct CredentialOptions {
  std::string dataDir; // required; holds generated material and the token
  // Subject alternative names wanted on the serving certificate in addition to localhost, 127.0.0.1
  // and ::1. Each entry is an IPv4/IPv6 address or a DNS name (wildcards such as "*.example.com"
  // are allowed); anything else is an Invalid error.
  std::vector<std::string> extraSans;
  // A user-provided serving certificate and key (both or neither). When given, no CA or serving
  // certificate is generated and extraSans is ignored; caFile, optional, supplies caCertPem.
  std::string certFile, keyFile, caFile;
};

// Loads the credentials from opts.dataDir, generating what is missing (see the rules above).
// Errors: Invalid for bad options or unusable files (unparsable, mismatched key, missing CA key),
// Internal for OS and crypto failures.
Result<Credentials> ensureCredentials(const CredentialOptions& opts);

// Atomically writes a kubeconfig (mode 0600) at `path` with cluster "caracal" at `serverUrl`, user
// "admin" and context "caracal" (namespace default) selected as current-context.
// For an https:// server the cluster carries certificate-authority-data (base64 of caPem), or
// insecure-skip-tls-verify: true when caPem is empty. For an http:// server it carries neither.
// An empty token leaves the user without credentials. The directory of `path` must exist.
Status writeKubeconfig(const std::string& path, const std::string& serverUrl,
                       const std::string& caPem, const std::string& token);

// Compares a presented bearer token with the expected one in time independent of where they differ
// and of their lengths. An empty expected token never matches.
bool tokenEquals(std::string_view presented, std::string_view expected);

// Standard base64 with padding (common/base64.h).
using ::caracal::base64Encode;
// caracal::base64Decode in Lenient mode: ASCII whitespace (line breaks) is skipped; padding is
// optional, but when present it must be correct. Any other character is a BadRequest error.
Result<std::string> base64Decode(std::string_view data);

} // namespace caracal::apiserver
