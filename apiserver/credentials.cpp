#include "apiserver/credentials.h"

#include "common/base64.h"
#include "common/strings.h"
#include "common/value.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace caracal::apiserver {
namespace {

constexpr int kCaDays = 3650;
constexpr int kServerDays = 365;
constexpr int kRenewBeforeDays = 90;
constexpr long kBackdateSeconds = 3600;
constexpr size_t kTokenBytes = 32;
constexpr size_t kMinTokenChars = 32;
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr const char* kCaCommonName = "caracal-ca";
constexpr const char* kServerCommonName = "caracal-apiserver";

// ---------------------------------------------------------------------------------------------
// OpenSSL ownership and errors

struct SslFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
  // ASN1_INTEGER, ASN1_OCTET_STRING and ASN1_IA5STRING are all this one type.
  void operator()(ASN1_STRING* p) const { ASN1_STRING_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(BIO* p) const { BIO_free_all(p); }
};
template <typename T> using SslPtr = std::unique_ptr<T, SslFree>;

// Drains OpenSSL's per-thread error queue into one line.
std::string sslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status sslFailure(const std::string& what) {
  return Status(Code::Internal, what + ": " + sslErrors());
}

// Refuses passphrase-protected keys instead of letting OpenSSL prompt on the terminal.
int noPassphrase(char*, int, int, void*) { return 0; }

// ---------------------------------------------------------------------------------------------
// Files

Status osFailure(const std::string& what, const std::string& path, int err) {
  return Status(Code::Internal, what + " " + path + ": " + std::system_category().message(err));
}

std::string joinPath(const std::string& dir, const std::string& name) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') {
    d.pop_back();
  }
  return d + "/" + name;
}

std::string parentDir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return path.substr(0, slash);
}

class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the result (close can report a deferred write error).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

private:
  int fd_;
};

// NotFound when the file does not exist, so that callers can tell "absent" from "unreadable".
Result<std::string> readFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) {
      return Status(Code::NotFound, path + ": " + std::system_category().message(err));
    }
    return osFailure("opening", path, err);
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return osFailure("reading", path, errno);
    }
    if (n == 0) {
      break;
    }
    out.append(buf, size_t(n));
    if (out.size() > kMaxFileBytes) {
      return Status(Code::Invalid, path + ": larger than " + std::to_string(kMaxFileBytes) +
                                       " bytes; not a certificate, key or token");
    }
  }
  return out;
}

Status fsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    return osFailure("opening directory", dir, errno);
  }
  if (::fsync(fd.get()) != 0) {
    return osFailure("syncing directory", dir, errno);
  }
  return Status::ok();
}

// Temp file in the target's directory, fsync, rename over the target, fsync of the directory: a
// reader sees the old content or the new one, never a mix, and the new one survives a crash.
Status writeFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return osFailure("creating a temporary file for", path, errno);
  }
  auto fail = [&](const char* what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return osFailure(what, path, err);
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return fail("setting the mode of");
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("writing");
    }
    off += size_t(n);
  }
  if (::fsync(fd.get()) != 0) {
    return fail("syncing");
  }
  if (fd.close() != 0) {
    return fail("closing");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("renaming a temporary file onto");
  }
  return fsyncDir(parentDir(path));
}

Status ensureDir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return Status(Code::Invalid, dir + ": exists and is not a directory");
    }
    return Status::ok();
  }
  if (errno != ENOENT) {
    return osFailure("inspecting", dir, errno);
  }
  std::error_code ec;
  std::filesystem::create_directories(parentDir(dir), ec);
  if (ec) {
    return Status(Code::Internal, "creating " + parentDir(dir) + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return osFailure("creating", dir, errno);
  }
  // mkdir's mode is filtered by the umask; the directory holds private keys, so set it exactly.
  if (::chmod(dir.c_str(), 0700) != 0) {
    return osFailure("setting the mode of", dir, errno);
  }
  return Status::ok();
}

// An exclusive advisory lock on DIR/.lock, so that two processes starting on one data directory do
// not both generate a CA and leave each holding credentials the other overwrote.
class DirLock {
public:
  static Result<std::unique_ptr<DirLock>> acquire(const std::string& dir) {
    std::string path = joinPath(dir, ".lock");
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return osFailure("opening", path, errno);
    }
    auto lock = std::unique_ptr<DirLock>(new DirLock(fd));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        return osFailure("locking", path, errno);
      }
    }
    return lock;
  }

private:
  explicit DirLock(int fd) : fd_(fd) {}
  Fd fd_; // closing the descriptor releases the lock
};

// ---------------------------------------------------------------------------------------------
// Random material

Result<std::string> randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) {
    return sslFailure("drawing random bytes");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Subject alternative names

struct San {
  bool isIp = false;
  std::string value; // lower-case DNS name, or the 4 or 16 address bytes

  bool operator==(const San&) const = default;
};

bool validDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  bool allNumeric = true;
  auto labels = split(name, '.');
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& label = labels[i];
    if (label == "*" && i == 0 && labels.size() > 1) {
      continue;
    }
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-' && c != '_') {
        return false;
      }
      if (!(c >= '0' && c <= '9')) {
        allNumeric = false;
      }
    }
  }
  // "10.0.0.256" is a mistyped address, not a host name.
  return !allNumeric;
}

Result<San> parseSan(std::string_view raw) {
  std::string s = trim(raw);
  unsigned char buf[16];
  if (::inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return San{true, std::string(reinterpret_cast<char*>(buf), 4)};
  }
  if (::inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return San{true, std::string(reinterpret_cast<char*>(buf), 16)};
  }
  std::string name = toLower(s);
  if (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  if (!validDnsName(name)) {
    return Status::invalidField("extraSans", "\"" + std::string(raw) +
                                                 "\" is neither an IP address nor a DNS name");
  }
  return San{false, name};
}

Result<std::vector<San>> requestedSans(const std::vector<std::string>& extra) {
  std::vector<San> out;
  for (const char* fixed : {"localhost", "127.0.0.1", "::1"}) {
    ASSIGN_OR_RETURN(San san, parseSan(fixed));
    out.push_back(std::move(san));
  }
  for (const auto& raw : extra) {
    if (trim(raw).empty()) {
      continue;
    }
    ASSIGN_OR_RETURN(San san, parseSan(raw));
    bool seen = false;
    for (const auto& have : out) {
      seen = seen || have == san;
    }
    if (!seen) {
      out.push_back(std::move(san));
    }
  }
  return out;
}

std::vector<San> certSans(const X509* cert) {
  std::vector<San> out;
  SslPtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* str = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    if (str == nullptr || (type != GEN_DNS && type != GEN_IPADD)) {
      continue;
    }
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(str)),
                      size_t(ASN1_STRING_length(str)));
    out.push_back(San{type == GEN_IPADD, type == GEN_DNS ? toLower(value) : value});
  }
  return out;
}

Status addSans(X509* cert, const std::vector<San>& sans) {
  SslPtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (!names) {
    return sslFailure("allocating subject alternative names");
  }
  for (const auto& san : sans) {
    SslPtr<GENERAL_NAME> name(GENERAL_NAME_new());
    SslPtr<ASN1_OCTET_STRING> str(san.isIp ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new());
    if (!name || !str || ASN1_STRING_set(str.get(), san.value.data(), int(san.value.size())) != 1) {
      return sslFailure("building a subject alternative name");
    }
    GENERAL_NAME_set0_value(name.get(), san.isIp ? GEN_IPADD : GEN_DNS, str.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
      return sslFailure("building subject alternative names");
    }
    name.release();
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return sslFailure("adding subject alternative names");
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Keys and certificates

Result<SslPtr<EVP_PKEY>> generateKey() {
  SslPtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return sslFailure("generating an ECDSA P-256 key");
  }
  return key;
}

Result<std::string> bioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n <= 0 || data == nullptr) {
    return sslFailure("reading an encoded PEM buffer");
  }
  return std::string(data, size_t(n));
}

Result<std::string> keyPem(EVP_PKEY* key) {
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return sslFailure("encoding a private key");
  }
  return bioText(bio.get());
}

Result<std::string> certPem(X509* cert) {
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return sslFailure("encoding a certificate");
  }
  return bioText(bio.get());
}

Result<SslPtr<EVP_PKEY>> parseKey(const std::string& pem, const std::string& path) {
  ERR_clear_error();
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  SslPtr<EVP_PKEY> key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr)
                           : nullptr);
  if (!key) {
    return Status(Code::Invalid, path +
                                     ": cannot read a PEM private key (passphrase-protected keys "
                                     "are not supported): " +
                                     sslErrors());
  }
  return key;
}

Result<SslPtr<X509>> parseCert(const std::string& pem, const std::string& path) {
  ERR_clear_error();
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  SslPtr<X509> cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr) : nullptr);
  if (!cert) {
    return Status(Code::Invalid, path + ": not a readable PEM certificate: " + sslErrors());
  }
  return cert;
}

Status addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  SslPtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return sslFailure(std::string("adding extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return Status::ok();
}

Status setRandomSerial(X509* cert) {
  ASSIGN_OR_RETURN(std::string bytes, randomBytes(16));
  bytes[0] = char(uint8_t(bytes[0]) & 0x7f); // serials are positive INTEGERs
  SslPtr<BIGNUM> bn(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()), nullptr));
  SslPtr<ASN1_INTEGER> serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
    return sslFailure("setting a certificate serial number");
  }
  return Status::ok();
}

// A certificate for `key` named `commonName`, signed by issuerKey. issuerCert == nullptr makes it
// self-signed; `sans` is only used for leaf certificates.
Result<SslPtr<X509>> issueCert(const char* commonName, int days, bool isCa, EVP_PKEY* key,
                               X509* issuerCert, EVP_PKEY* issuerKey,
                               const std::vector<San>& sans) {
  SslPtr<X509> cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return sslFailure("allocating a certificate");
  }
  RETURN_IF_ERROR(setRandomSerial(cert.get()));
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return sslFailure("setting certificate validity and key");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(commonName), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuerCert ? X509_get_subject_name(issuerCert) : subject) !=
          1) {
    return sslFailure("setting certificate names");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuerCert ? issuerCert : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (isCa) {
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  } else {
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth"));
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
    RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
    RETURN_IF_ERROR(addSans(cert.get(), sans));
  }
  if (X509_sign(cert.get(), issuerKey, EVP_sha256()) <= 0) {
    return sslFailure(std::string("signing the certificate for ") + commonName);
  }
  return cert;
}

// ---------------------------------------------------------------------------------------------
// The pieces of ensureCredentials

struct Ca {
  SslPtr<X509> cert;
  SslPtr<EVP_PKEY> key;
  std::string certPem;
};

Result<Ca> loadOrCreateCa(const std::string& certPath, const std::string& keyPath) {
  auto certText = readFile(certPath);
  if (certText) {
    Ca ca;
    ca.certPem = std::move(certText).value();
    ASSIGN_OR_RETURN(ca.cert, parseCert(ca.certPem, certPath));
    auto keyText = readFile(keyPath);
    if (!keyText) {
      if (keyText.code() == Code::NotFound) {
        return Status(Code::Invalid,
                      keyPath + ": missing while " + certPath +
                          " exists; restore the CA key, or remove both files to create a new CA "
                          "(clients will then need the new " +
                          certPath + ")");
      }
      return keyText.error();
    }
    ASSIGN_OR_RETURN(ca.key, parseKey(*keyText, keyPath));
    if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
      ERR_clear_error();
      return Status(Code::Invalid, keyPath + ": does not match the certificate in " + certPath);
    }
    if (X509_check_ca(ca.cert.get()) < 1) {
      return Status(Code::Invalid, certPath + ": not a CA certificate");
    }
    return ca;
  }
  if (certText.code() != Code::NotFound) {
    return certText.error();
  }
  // No CA certificate: nobody can trust this CA yet, so a leftover ca.key (from a start that
  // stopped between the two writes) is simply replaced.
  Ca ca;
  ASSIGN_OR_RETURN(ca.key, generateKey());
  ASSIGN_OR_RETURN(
      ca.cert, issueCert(kCaCommonName, kCaDays, true, ca.key.get(), nullptr, ca.key.get(), {}));
  ASSIGN_OR_RETURN(std::string keyText, keyPem(ca.key.get()));
  ASSIGN_OR_RETURN(ca.certPem, certPem(ca.cert.get()));
  RETURN_IF_ERROR(writeFileAtomic(keyPath, keyText, 0600));
  RETURN_IF_ERROR(writeFileAtomic(certPath, ca.certPem, 0644));
  return ca;
}

// Whether an existing serving certificate can stay: matching key, signed by this CA, every wanted
// SAN present, and not close to expiry.
bool serverCertUsable(X509* cert, EVP_PKEY* key, const Ca& ca, const std::vector<San>& wanted) {
  bool ok = X509_check_private_key(cert, key) == 1 &&
            X509_check_issued(ca.cert.get(), cert) == X509_V_OK &&
            X509_verify(cert, X509_get0_pubkey(ca.cert.get())) == 1;
  ERR_clear_error();
  if (!ok) {
    return false;
  }
  time_t renewAt = std::time(nullptr) + time_t(kRenewBeforeDays) * 24 * 3600;
  if (X509_cmp_time(X509_get0_notAfter(cert), &renewAt) <= 0) {
    return false;
  }
  std::vector<San> have = certSans(cert);
  for (const auto& san : wanted) {
    bool found = false;
    for (const auto& h : have) {
      found = found || h == san;
    }
    if (!found) {
      return false;
    }
  }
  return true;
}

Status loadOrIssueServer(Credentials& creds, const Ca& ca, const std::vector<San>& wanted) {
  auto certText = readFile(creds.serverCertPath);
  auto keyText = readFile(creds.serverKeyPath);
  for (const auto* r : {&certText, &keyText}) {
    if (!*r && r->code() != Code::NotFound) {
      return r->error();
    }
  }
  if (certText && keyText) {
    ASSIGN_OR_RETURN(SslPtr<X509> cert, parseCert(*certText, creds.serverCertPath));
    ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, parseKey(*keyText, creds.serverKeyPath));
    if (serverCertUsable(cert.get(), key.get(), ca, wanted)) {
      creds.serverCertPem = std::move(certText).value();
      creds.serverKeyPem = std::move(keyText).value();
      return Status::ok();
    }
  }
  ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, generateKey());
  ASSIGN_OR_RETURN(SslPtr<X509> cert, issueCert(kServerCommonName, kServerDays, false, key.get(),
                                                ca.cert.get(), ca.key.get(), wanted));
  ASSIGN_OR_RETURN(creds.serverKeyPem, keyPem(key.get()));
  ASSIGN_OR_RETURN(creds.serverCertPem, certPem(cert.get()));
  // Key first: a stop between the writes leaves a new key beside the old certificate, which the
  // next start sees as a mismatch and repairs.
  RETURN_IF_ERROR(writeFileAtomic(creds.serverKeyPath, creds.serverKeyPem, 0600));
  RETURN_IF_ERROR(writeFileAtomic(creds.serverCertPath, creds.serverCertPem, 0644));
  return Status::ok();
}

Result<std::string> loadOrCreateToken(const std::string& path) {
  auto text = readFile(path);
  if (text) {
    std::string token = trim(*text);
    if (token.size() < kMinTokenChars) {
      return Status(Code::Invalid, path + ": token shorter than " + std::to_string(kMinTokenChars) +
                                       " characters; remove the file to generate a new one");
    }
    for (unsigned char c : token) {
      if (c <= 0x20 || c >= 0x7f) {
        return Status(Code::Invalid,
                      path + ": token must be one line of printable ASCII without spaces");
      }
    }
    return token;
  }
  if (text.code() != Code::NotFound) {
    return text.error();
  }
  ASSIGN_OR_RETURN(std::string raw, randomBytes(kTokenBytes));
  std::string token = base64UrlEncode(raw);
  RETURN_IF_ERROR(writeFileAtomic(path, token + "\n", 0600));
  return token;
}

Status loadUserCert(Credentials& creds, const CredentialOptions& opts) {
  creds.serverCertPath = opts.certFile;
  creds.serverKeyPath = opts.keyFile;
  ASSIGN_OR_RETURN(creds.serverCertPem, readFile(opts.certFile));
  ASSIGN_OR_RETURN(creds.serverKeyPem, readFile(opts.keyFile));
  ASSIGN_OR_RETURN(SslPtr<X509> cert, parseCert(creds.serverCertPem, opts.certFile));
  ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, parseKey(creds.serverKeyPem, opts.keyFile));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status(Code::Invalid,
                  opts.keyFile + ": does not match the certificate in " + opts.certFile);
  }
  if (!opts.caFile.empty()) {
    creds.caCertPath = opts.caFile;
    ASSIGN_OR_RETURN(creds.caCertPem, readFile(opts.caFile));
    ASSIGN_OR_RETURN(SslPtr<X509> ca, parseCert(creds.caCertPem, opts.caFile));
  }
  return Status::ok();
}

} // namespace

// ---------------------------------------------------------------------------------------------

Result<Credentials> ensureCredentials(const CredentialOptions& opts) {
  if (opts.dataDir.empty()) {
    return Status::invalidField("dataDir", "required");
  }
  bool userCert = !opts.certFile.empty() || !opts.keyFile.empty();
  if (userCert && (opts.certFile.empty() || opts.keyFile.empty())) {
    return Status::invalidField(opts.certFile.empty() ? "certFile" : "keyFile",
                                "a serving certificate needs both certFile and keyFile");
  }
  if (!userCert && !opts.caFile.empty()) {
    return Status::invalidField("caFile", "only used together with certFile and keyFile");
  }
  std::vector<San> wanted;
  if (!userCert) {
    ASSIGN_OR_RETURN(wanted, requestedSans(opts.extraSans));
  }

  RETURN_IF_ERROR(ensureDir(opts.dataDir));
  ASSIGN_OR_RETURN(auto lock, DirLock::acquire(opts.dataDir));

  Credentials creds;
  creds.tokenPath = joinPath(opts.dataDir, "token");
  ASSIGN_OR_RETURN(creds.token, loadOrCreateToken(creds.tokenPath));
  if (userCert) {
    RETURN_IF_ERROR(loadUserCert(creds, opts));
    return creds;
  }
  creds.caCertPath = joinPath(opts.dataDir, "ca.crt");
  creds.serverCertPath = joinPath(opts.dataDir, "server.crt");
  creds.serverKeyPath = joinPath(opts.dataDir, "server.key");
  ASSIGN_OR_RETURN(Ca ca, loadOrCreateCa(creds.caCertPath, joinPath(opts.dataDir, "ca.key")));
  creds.caCertPem = ca.certPem;
  RETURN_IF_ERROR(loadOrIssueServer(creds, ca, wanted));
  return creds;
}

Status writeKubeconfig(const std::string& path, const std::string& serverUrl,
                       const std::string& caPem, const std::string& token) {
  std::string lower = toLower(serverUrl);
  bool https = startsWith(lower, "https://");
  if (!https && !startsWith(lower, "http://")) {
    return Status::invalidField("server",
                                "\"" + serverUrl + "\" must start with http:// or https://");
  }
  Value cluster = Value::object();
  cluster.set("server", serverUrl);
  if (https && !caPem.empty()) {
    cluster.set("certificate-authority-data", base64Encode(caPem));
  } else if (https) {
    cluster.set("insecure-skip-tls-verify", true);
  }
  Value user = Value::object();
  if (!token.empty()) {
    user.set("token", token);
  }

  Value doc = Value::object();
  doc.set("apiVersion", "v1");
  doc.set("kind", "Config");
  doc.set("clusters", Value(Value::Array{Value(
                          Value::Object{{"name", "caracal"}, {"cluster", std::move(cluster)}})}));
  doc.set("users",
          Value(Value::Array{Value(Value::Object{{"name", "admin"}, {"user", std::move(user)}})}));
  doc.set(
      "contexts",
      Value(Value::Array{Value(Value::Object{
          {"name", "caracal"},
          {"context", Value(Value::Object{
                          {"cluster", "caracal"}, {"user", "admin"}, {"namespace", "default"}})},
      })}));
  doc.set("current-context", "caracal");
  doc.set("preferences", Value::object());
  return writeFileAtomic(path, toYaml(doc), 0600);
}

bool tokenEquals(std::string_view presented, std::string_view expected) {
  if (expected.empty()) {
    return false;
  }
  // Comparing fixed-size digests keeps the time independent of both the first differing byte and
  // the lengths.
  unsigned char a[EVP_MAX_MD_SIZE];
  unsigned char b[EVP_MAX_MD_SIZE];
  unsigned int alen = 0;
  unsigned int blen = 0;
  if (EVP_Digest(presented.data(), presented.size(), a, &alen, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(expected.data(), expected.size(), b, &blen, EVP_sha256(), nullptr) != 1 ||
      alen != blen) {
    ERR_clear_error();
    return false;
  }
  return CRYPTO_memcmp(a, b, alen) == 0;
}

Result<std::string> base64Decode(std::string_view data) {
  auto decoded = caracal::base64Decode(data, Base64Mode::Lenient);
  if (!decoded) {
    return Status(Code::BadRequest, decoded.error().message());
  }
  return decoded;
}

} // namespace caracal::apiserver
