#include "apiserver/credentials.h"
#include "common/strings.h"
#include "common/value.h"

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <memory>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>

namespace caracal::apiserver {
namespace {

namespace fs = std::filesystem;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(BIO* p) const { BIO_free_all(p); }
};
template <typename T> using Ptr = std::unique_ptr<T, X509Free>;

Ptr<X509> parseCertPem(const std::string& pem) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  return Ptr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

unsigned fileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return 0xffff;
  }
  return st.st_mode & 07777;
}

// Runs a shell command, returning its exit status and combined output.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return {-1, "popen failed"};
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
    out.append(buf, n);
  }
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// "DNS:name" / "IP:address" for each SAN, addresses in inet_ntop form.
std::set<std::string> sans(X509* cert) {
  std::set<std::string> out;
  Ptr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      out.insert("DNS:" +
                 std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                             size_t(ASN1_STRING_length(n->d.dNSName))));
    } else if (n->type == GEN_IPADD) {
      char text[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(n->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), text,
                sizeof(text));
      out.insert(std::string("IP:") + text);
    }
  }
  return out;
}

// X509_verify_cert against a store holding only the CA, as a TLS client would, optionally also
// checking a host name or an IP address. Returns the verification error string, "" on success.
std::string verifyChain(const std::string& caPem, const std::string& serverPem,
                        const std::string& host = "", const std::string& ip = "") {
  Ptr<X509> ca = parseCertPem(caPem);
  Ptr<X509> server = parseCertPem(serverPem);
  if (!ca || !server) {
    return "unparsable certificate";
  }
  Ptr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  Ptr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), server.get(), nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (!host.empty()) {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  if (!ip.empty()) {
    X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str());
  }
  if (X509_verify_cert(ctx.get()) == 1) {
    return "";
  }
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

double validityDays(X509* cert) {
  int days = 0;
  int secs = 0;
  ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert));
  return days + secs / 86400.0;
}

class CredentialsTest : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/caracal-credentials-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dataDir_ = root_ + "/data";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  CredentialOptions opts(std::vector<std::string> extra = {}) const {
    CredentialOptions o;
    o.dataDir = dataDir_;
    o.extraSans = std::move(extra);
    return o;
  }
  std::string file(const std::string& name) const { return dataDir_ + "/" + name; }

  Credentials mustEnsure(const CredentialOptions& o) {
    auto r = ensureCredentials(o);
    EXPECT_TRUE(r.hasValue()) << r.status().str();
    return r ? *r : Credentials{};
  }

  std::string root_;
  std::string dataDir_;
};

TEST_F(CredentialsTest, FirstStartCreatesFilesWithPrivateModes) {
  Credentials c = mustEnsure(opts());
  EXPECT_EQ(fileMode(dataDir_), 0700u);
  EXPECT_EQ(fileMode(file("ca.key")), 0600u);
  EXPECT_EQ(fileMode(file("server.key")), 0600u);
  EXPECT_EQ(fileMode(file("token")), 0600u);
  EXPECT_EQ(fileMode(file("ca.crt")), 0644u);
  EXPECT_EQ(fileMode(file("server.crt")), 0644u);

  EXPECT_EQ(c.caCertPath, file("ca.crt"));
  EXPECT_EQ(c.serverCertPath, file("server.crt"));
  EXPECT_EQ(c.serverKeyPath, file("server.key"));
  EXPECT_EQ(c.tokenPath, file("token"));
  EXPECT_EQ(readAll(c.caCertPath), c.caCertPem);
  EXPECT_EQ(readAll(c.serverCertPath), c.serverCertPem);
  EXPECT_EQ(readAll(c.serverKeyPath), c.serverKeyPem);
  EXPECT_EQ(readAll(c.tokenPath), c.token + "\n");
  EXPECT_NE(c.serverKeyPem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);

  // Nothing but the documented files: no temporary files left behind.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dataDir_)) {
    names.insert(e.path().filename().string());
  }
  EXPECT_EQ(names, (std::set<std::string>{".lock", "ca.crt", "ca.key", "server.crt", "server.key",
                                          "token"}));
}

TEST_F(CredentialsTest, TokenIsRandomBase64Url) {
  Credentials a = mustEnsure(opts());
  EXPECT_EQ(a.token.size(), 43u); // 32 bytes, unpadded base64url
  for (char ch : a.token) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') << ch;
  }
  CredentialOptions other = opts();
  other.dataDir = root_ + "/other";
  Credentials b = mustEnsure(other);
  EXPECT_NE(a.token, b.token);
}

TEST_F(CredentialsTest, ServerCertificateChainsToCaAndCoversSans) {
  Credentials c = mustEnsure(opts({"10.96.0.1", "API.Example.test", "fd00::10", " "}));
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem), "");
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem, "localhost"), "");
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem, "api.example.test"), "");
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem, "", "127.0.0.1"), "");
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem, "", "::1"), "");
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem, "", "10.96.0.1"), "");
  EXPECT_EQ(verifyChain(c.caCertPem, c.serverCertPem, "", "fd00::10"), "");
  // Negative controls: the checks above can fail.
  EXPECT_NE(verifyChain(c.caCertPem, c.serverCertPem, "other.example.test"), "");
  EXPECT_NE(verifyChain(c.caCertPem, c.serverCertPem, "", "10.96.0.2"), "");
  EXPECT_NE(verifyChain(c.serverCertPem, c.serverCertPem), "");

  Ptr<X509> server = parseCertPem(c.serverCertPem);
  ASSERT_TRUE(server);
  EXPECT_EQ(sans(server.get()),
            (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1", "IP:10.96.0.1",
                                   "DNS:api.example.test", "IP:fd00::10"}));
}

TEST_F(CredentialsTest, CertificateFieldsAsSpecified) {
  Credentials c = mustEnsure(opts());
  Ptr<X509> ca = parseCertPem(c.caCertPem);
  Ptr<X509> server = parseCertPem(c.serverCertPem);
  ASSERT_TRUE(ca && server);

  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "caracal-ca");
  X509_NAME_get_text_by_NID(X509_get_subject_name(server.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "caracal-apiserver");

  // CA: critical basicConstraints CA:TRUE, keyCertSign|cRLSign, an SKID, P-256, ten years.
  int crit = -1;
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(ca.get(), NID_basic_constraints, &crit, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(crit, 1);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_EQ(X509_get_key_usage(ca.get()), uint32_t(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  ASSERT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_NEAR(validityDays(ca.get()), 3650, 1.0);
  char group[64] = {};
  size_t glen = 0;
  EXPECT_EQ(EVP_PKEY_get_group_name(X509_get0_pubkey(ca.get()), group, sizeof(group), &glen), 1);
  EXPECT_STREQ(group, "prime256v1");

  // Server: digitalSignature, serverAuth, AKID naming the CA's SKID, 128-bit serial, one year.
  EXPECT_EQ(X509_get_key_usage(server.get()), uint32_t(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(server.get()), uint32_t(XKU_SSL_SERVER));
  EXPECT_FALSE(X509_get_extension_flags(server.get()) & EXFLAG_CA);
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(server.get());
  ASSERT_NE(akid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca.get())), 0);
  EXPECT_EQ(X509_check_issued(ca.get(), server.get()), X509_V_OK);
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(server.get()), nullptr);
  EXPECT_GT(BN_num_bits(serial), 100); // 127 random bits; < 100 has probability 2^-27
  EXPECT_LE(BN_num_bits(serial), 127);
  BN_free(serial);
  EXPECT_NEAR(validityDays(server.get()), 365, 1.0);
  EXPECT_EQ(EVP_PKEY_get_group_name(X509_get0_pubkey(server.get()), group, sizeof(group), &glen),
            1);
  EXPECT_STREQ(group, "prime256v1");
  // Valid now (not-before is backdated, not in the future).
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(server.get())), 0);
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(server.get())), 0);
}

// The openssl command-line tool as an independent reader of what was written.
TEST_F(CredentialsTest, OpensslToolAgrees) {
  Credentials c = mustEnsure(opts({"192.0.2.7", "node1.example.test"}));
  auto [rc, out] =
      run("openssl verify -CAfile " + quote(c.caCertPath) + " " + quote(c.serverCertPath));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(c.serverCertPath + ": OK"), std::string::npos) << out;

  std::tie(rc, out) = run("openssl verify -purpose sslserver -verify_hostname node1.example.test "
                          "-CAfile " +
                          quote(c.caCertPath) + " " + quote(c.serverCertPath));
  EXPECT_EQ(rc, 0) << out;
  std::tie(rc, out) = run("openssl verify -verify_ip 192.0.2.8 -CAfile " + quote(c.caCertPath) +
                          " " + quote(c.serverCertPath));
  EXPECT_NE(rc, 0) << out;

  std::tie(rc, out) = run("openssl x509 -noout -text -in " + quote(c.serverCertPath));
  ASSERT_EQ(rc, 0) << out;
  for (const char* want :
       {"Subject: CN = caracal-apiserver", "Issuer: CN = caracal-ca", "DNS:localhost",
        "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "IP Address:192.0.2.7",
        "DNS:node1.example.test", "TLS Web Server Authentication", "Digital Signature",
        "X509v3 Authority Key Identifier", "ecdsa-with-SHA256", "NIST CURVE: P-256", "CA:FALSE"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing " << want << " in\n" << out;
  }

  std::tie(rc, out) = run("openssl x509 -noout -text -in " + quote(c.caCertPath));
  ASSERT_EQ(rc, 0) << out;
  for (const char* want :
       {"Subject: CN = caracal-ca", "X509v3 Basic Constraints: critical", "CA:TRUE",
        "Certificate Sign, CRL Sign", "X509v3 Subject Key Identifier"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing " << want << " in\n" << out;
  }

  std::tie(rc, out) = run("openssl pkey -noout -in " + quote(file("server.key")));
  EXPECT_EQ(rc, 0) << out;
}

TEST_F(CredentialsTest, SecondStartReusesEverything) {
  Credentials first = mustEnsure(opts({"10.0.0.1"}));
  Credentials second = mustEnsure(opts({"10.0.0.1"}));
  EXPECT_EQ(first.caCertPem, second.caCertPem);
  EXPECT_EQ(first.serverCertPem, second.serverCertPem);
  EXPECT_EQ(first.serverKeyPem, second.serverKeyPem);
  EXPECT_EQ(first.token, second.token);
  // A SAN already covered (even spelled differently) or a dropped extra SAN re-issues nothing.
  Credentials third = mustEnsure(opts({" 10.0.0.1 ", "LOCALHOST"}));
  EXPECT_EQ(first.serverCertPem, third.serverCertPem);
  Credentials fourth = mustEnsure(opts());
  EXPECT_EQ(first.serverCertPem, fourth.serverCertPem);
}

TEST_F(CredentialsTest, NewSanReissuesServerCertificateButKeepsCa) {
  Credentials first = mustEnsure(opts());
  std::string caKey = readAll(file("ca.key"));
  Credentials second = mustEnsure(opts({"203.0.113.9", "apiserver.example.test"}));
  EXPECT_EQ(second.caCertPem, first.caCertPem);
  EXPECT_EQ(readAll(file("ca.key")), caKey);
  EXPECT_EQ(second.token, first.token);
  EXPECT_NE(second.serverCertPem, first.serverCertPem);
  EXPECT_NE(second.serverKeyPem, first.serverKeyPem);
  EXPECT_EQ(readAll(file("server.crt")), second.serverCertPem);
  EXPECT_EQ(fileMode(file("server.key")), 0600u);
  EXPECT_EQ(verifyChain(second.caCertPem, second.serverCertPem, "", "203.0.113.9"), "");
  EXPECT_EQ(verifyChain(second.caCertPem, second.serverCertPem, "apiserver.example.test"), "");
  EXPECT_EQ(verifyChain(first.caCertPem, second.serverCertPem, "localhost"), "");

  Credentials third = mustEnsure(opts({"203.0.113.9", "apiserver.example.test"}));
  EXPECT_EQ(third.serverCertPem, second.serverCertPem);
}

TEST_F(CredentialsTest, RemovedCaCertificateMeansNewCaAndServerCertificate) {
  Credentials first = mustEnsure(opts());
  fs::remove(file("ca.crt"));
  Credentials second = mustEnsure(opts());
  EXPECT_NE(second.caCertPem, first.caCertPem);
  EXPECT_NE(second.serverCertPem, first.serverCertPem);
  EXPECT_EQ(second.token, first.token);
  EXPECT_EQ(verifyChain(second.caCertPem, second.serverCertPem, "localhost"), "");
}

TEST_F(CredentialsTest, ServerCertificateCloseToExpiryIsRenewed) {
  Credentials first = mustEnsure(opts());
  // Re-sign the existing key with the CA through the openssl tool, for `days` days.
  auto resign = [&](int days) {
    writeAll(root_ + "/ext.cnf", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                                 "authorityKeyIdentifier=keyid\n");
    auto [rc, out] = run("openssl req -new -key " + quote(file("server.key")) +
                         " -subj /CN=caracal-apiserver -out " + quote(root_ + "/server.csr") +
                         " && openssl x509 -req -in " + quote(root_ + "/server.csr") + " -CA " +
                         quote(file("ca.crt")) + " -CAkey " + quote(file("ca.key")) +
                         " -set_serial 7 -days " + std::to_string(days) + " -extfile " +
                         quote(root_ + "/ext.cnf") + " -out " + quote(file("server.crt")));
    ASSERT_EQ(rc, 0) << out;
  };
  resign(200);
  std::string longLived = readAll(file("server.crt"));
  Credentials second = mustEnsure(opts());
  EXPECT_EQ(second.serverCertPem, longLived); // 200 days left: kept

  resign(30);
  std::string shortLived = readAll(file("server.crt"));
  Credentials third = mustEnsure(opts());
  EXPECT_NE(third.serverCertPem, shortLived); // 30 days left: renewed
  EXPECT_EQ(third.caCertPem, first.caCertPem);
  Ptr<X509> renewed = parseCertPem(third.serverCertPem);
  ASSERT_TRUE(renewed);
  EXPECT_NEAR(validityDays(renewed.get()), 365, 1.0);
}

TEST_F(CredentialsTest, CorruptedCaKeyIsAnErrorNamingTheFile) {
  mustEnsure(opts());
  std::string caCert = readAll(file("ca.crt"));
  writeAll(file("ca.key"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
  auto r = ensureCredentials(opts());
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find(file("ca.key")), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("private key"), std::string::npos) << r.error().message();
  EXPECT_EQ(readAll(file("ca.crt")), caCert); // the CA is not replaced
}

TEST_F(CredentialsTest, CorruptedServerKeyAndCertificateAreErrorsNamingTheFile) {
  mustEnsure(opts());
  writeAll(file("server.key"), "garbage");
  auto r = ensureCredentials(opts());
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find(file("server.key")), std::string::npos) << r.error().message();

  fs::remove(file("server.key"));
  mustEnsure(opts()); // a missing server key is simply re-issued
  writeAll(file("ca.crt"), readAll(file("ca.crt")).substr(0, 100));
  r = ensureCredentials(opts());
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find(file("ca.crt")), std::string::npos) << r.error().message();
}

TEST_F(CredentialsTest, MissingOrMismatchedCaKeyIsAnError) {
  mustEnsure(opts());
  std::string serverKey = readAll(file("server.key"));
  fs::remove(file("ca.key"));
  auto r = ensureCredentials(opts());
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find(file("ca.key") + ": missing"), std::string::npos)
      << r.error().message();

  writeAll(file("ca.key"), serverKey);
  r = ensureCredentials(opts());
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos) << r.error().message();
}

TEST_F(CredentialsTest, BadTokenFileIsAnError) {
  mustEnsure(opts());
  writeAll(file("token"), "short\n");
  auto r = ensureCredentials(opts());
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find(file("token")), std::string::npos) << r.error().message();
}

TEST_F(CredentialsTest, InvalidOptionsAreRejectedBeforeTouchingDisk) {
  auto r = ensureCredentials(opts({"not a name!"}));
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_NE(r.error().message().find("not a name!"), std::string::npos);
  r = ensureCredentials(opts({"10.0.0.300"}));
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_FALSE(fs::exists(dataDir_));

  CredentialOptions o = opts();
  o.certFile = "/nonexistent/cert.pem";
  EXPECT_EQ(ensureCredentials(o).code(), Code::Invalid);
  o = opts();
  o.caFile = "/nonexistent/ca.pem";
  EXPECT_EQ(ensureCredentials(o).code(), Code::Invalid);
  EXPECT_EQ(ensureCredentials(CredentialOptions{}).code(), Code::Invalid);

  writeAll(root_ + "/plainfile", "x");
  o = opts();
  o.dataDir = root_ + "/plainfile";
  r = ensureCredentials(o);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find("not a directory"), std::string::npos);
}

TEST_F(CredentialsTest, UserProvidedCertificateIsUsedAsIs) {
  Credentials generated = mustEnsure(opts());
  CredentialOptions o;
  o.dataDir = root_ + "/user";
  o.certFile = generated.serverCertPath;
  o.keyFile = generated.serverKeyPath;
  o.caFile = generated.caCertPath;
  Credentials c = mustEnsure(o);
  EXPECT_EQ(c.serverCertPem, generated.serverCertPem);
  EXPECT_EQ(c.serverKeyPem, generated.serverKeyPem);
  EXPECT_EQ(c.caCertPem, generated.caCertPem);
  EXPECT_EQ(c.serverCertPath, o.certFile);
  EXPECT_EQ(c.caCertPath, o.caFile);
  EXPECT_FALSE(c.token.empty());
  EXPECT_NE(c.token, generated.token);
  EXPECT_FALSE(fs::exists(o.dataDir + "/ca.crt"));
  EXPECT_FALSE(fs::exists(o.dataDir + "/server.crt"));

  o.caFile.clear();
  Credentials noCa = mustEnsure(o);
  EXPECT_TRUE(noCa.caCertPem.empty());
  EXPECT_EQ(noCa.token, c.token);

  o.keyFile = file("ca.key"); // a key that does not belong to the certificate
  auto r = ensureCredentials(o);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find(file("ca.key")), std::string::npos) << r.error().message();

  o.keyFile = root_ + "/absent.key";
  r = ensureCredentials(o);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.error().message().find(o.keyFile), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("No such file"), std::string::npos) << r.error().message();
}

TEST(TokenEqualsTest, ComparesWholeTokens) {
  EXPECT_TRUE(tokenEquals("s3cret-token-value", "s3cret-token-value"));
  EXPECT_FALSE(tokenEquals("s3cret-token-valuE", "s3cret-token-value"));
  EXPECT_FALSE(tokenEquals("s3cret-token-valu", "s3cret-token-value"));
  EXPECT_FALSE(tokenEquals("s3cret-token-value!", "s3cret-token-value"));
  EXPECT_FALSE(tokenEquals("", "s3cret-token-value"));
  EXPECT_FALSE(tokenEquals("", ""));
  EXPECT_FALSE(tokenEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

// Decoding is common/base64 in Lenient mode (tested there); what this wrapper adds is the error
// code: malformed input is the client's fault, BadRequest.
TEST(Base64Test, DecodesLenientlyAndMapsErrorsToBadRequest) {
  auto d = base64Decode("Zm9v\nYmE");
  ASSERT_TRUE(d.hasValue()) << d.error().message();
  EXPECT_EQ(*d, "fooba");
  for (const char* bad : {"Zm9v!", "Zg=x", "Z"}) {
    auto r = base64Decode(bad);
    ASSERT_FALSE(r.hasValue()) << bad;
    EXPECT_EQ(r.code(), Code::BadRequest) << bad;
    EXPECT_EQ(r.error().message().rfind("invalid base64 data", 0), 0u) << r.error().message();
  }
}

class KubeconfigTest : public CredentialsTest {
protected:
  Value readBack(const std::string& path) {
    auto v = parseYaml(readAll(path));
    EXPECT_TRUE(v.hasValue()) << v.status().str();
    return v ? *v : Value();
  }
};

TEST_F(KubeconfigTest, HttpsWithCaData) {
  Credentials c = mustEnsure(opts());
  std::string path = root_ + "/admin.kubeconfig";
  ASSERT_TRUE(writeKubeconfig(path, "https://127.0.0.1:6443", c.caCertPem, c.token).isOk());
  EXPECT_EQ(fileMode(path), 0600u);
  Value v = readBack(path);
  EXPECT_EQ(v.getString("apiVersion"), "v1");
  EXPECT_EQ(v.getString("kind"), "Config");
  EXPECT_EQ(v.getString("current-context"), "caracal");
  ASSERT_EQ(v.path("clusters") ? v.path("clusters")->size() : 0u, 1u);
  const Value& cluster = v.path("clusters")->asArray()[0];
  EXPECT_EQ(cluster.getString("name"), "caracal");
  EXPECT_EQ(cluster.getString("cluster.server"), "https://127.0.0.1:6443");
  EXPECT_FALSE(cluster.path("cluster.insecure-skip-tls-verify"));
  auto ca = base64Decode(cluster.getString("cluster.certificate-authority-data"));
  ASSERT_TRUE(ca.hasValue());
  EXPECT_EQ(*ca, c.caCertPem);
  ASSERT_EQ(v.path("users") ? v.path("users")->size() : 0u, 1u);
  const Value& user = v.path("users")->asArray()[0];
  EXPECT_EQ(user.getString("name"), "admin");
  EXPECT_EQ(user.getString("user.token"), c.token);
  ASSERT_EQ(v.path("contexts") ? v.path("contexts")->size() : 0u, 1u);
  const Value& ctx = v.path("contexts")->asArray()[0];
  EXPECT_EQ(ctx.getString("name"), "caracal");
  EXPECT_EQ(ctx.getString("context.cluster"), "caracal");
  EXPECT_EQ(ctx.getString("context.user"), "admin");
  EXPECT_EQ(ctx.getString("context.namespace"), "default");

  // Rewriting replaces the file in place and leaves no temporary files.
  ASSERT_TRUE(writeKubeconfig(path, "https://10.0.0.1:6443", c.caCertPem, c.token).isOk());
  EXPECT_EQ(readBack(path).getString("current-context"), "caracal");
  EXPECT_NE(readAll(path).find("https://10.0.0.1:6443"), std::string::npos);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(root_)) {
    entries += e.path().filename().string().rfind("admin.kubeconfig", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(entries, 1u);
}

TEST_F(KubeconfigTest, HttpsWithoutCaSkipsVerification) {
  std::string path = root_ + "/admin.kubeconfig";
  ASSERT_TRUE(writeKubeconfig(path, "https://localhost:6443", "", "tok").isOk());
  Value v = readBack(path);
  const Value& cluster = v.path("clusters")->asArray()[0];
  const Value* skip = cluster.path("cluster.insecure-skip-tls-verify");
  ASSERT_NE(skip, nullptr);
  EXPECT_TRUE(skip->isBool() && skip->asBool());
  EXPECT_FALSE(cluster.path("cluster.certificate-authority-data"));
}

TEST_F(KubeconfigTest, PlainHttpHasNoTlsFields) {
  std::string path = root_ + "/admin.kubeconfig";
  ASSERT_TRUE(writeKubeconfig(path, "http://127.0.0.1:8080", "ignored CA", "tok").isOk());
  Value v = readBack(path);
  const Value& cluster = v.path("clusters")->asArray()[0];
  EXPECT_EQ(cluster.getString("cluster.server"), "http://127.0.0.1:8080");
  EXPECT_FALSE(cluster.path("cluster.insecure-skip-tls-verify"));
  EXPECT_FALSE(cluster.path("cluster.certificate-authority-data"));
  EXPECT_EQ(v.path("users")->asArray()[0].getString("user.token"), "tok");
}

TEST_F(KubeconfigTest, Errors) {
  Status s = writeKubeconfig(root_ + "/k", "ftp://x", "", "tok");
  EXPECT_EQ(s.code(), Code::Invalid);
  EXPECT_FALSE(fs::exists(root_ + "/k"));
  std::string path = root_ + "/missing-dir/admin.kubeconfig";
  s = writeKubeconfig(path, "http://x:1", "", "tok");
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos) << s.message();
}

// kubectl, when installed, as an independent reader of the kubeconfig.
TEST_F(KubeconfigTest, KubectlReadsIt) {
  if (run("command -v kubectl").first != 0) {
    GTEST_SKIP() << "kubectl not installed";
  }
  Credentials c = mustEnsure(opts());
  std::string path = root_ + "/admin.kubeconfig";
  ASSERT_TRUE(writeKubeconfig(path, "https://127.0.0.1:6443", c.caCertPem, c.token).isOk());
  std::string kubectl =
      "HOME=" + quote(root_) + " kubectl --kubeconfig=" + quote(path) + " config view --raw -o ";
  auto [rc, out] = run(kubectl + "jsonpath='{.current-context} {.clusters[0].cluster.server} "
                                 "{.contexts[0].context.namespace} {.users[0].user.token}'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "caracal https://127.0.0.1:6443 default " + c.token);
  std::tie(rc, out) = run(kubectl + "jsonpath='{.clusters[0].cluster.certificate-authority-data}'");
  ASSERT_EQ(rc, 0) << out;
  auto ca = base64Decode(out);
  ASSERT_TRUE(ca.hasValue()) << out;
  EXPECT_EQ(*ca, c.caCertPem);
}

} // namespace
} // namespace caracal::apiserver
