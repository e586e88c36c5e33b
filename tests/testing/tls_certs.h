// Throwaway certificates for TLS tests, made with OpenSSL's API in memory:
// a CA and leaf certificates it signs, each with chosen names and validity.
//
//   weft::test::Pki pki;                       // a fresh CA, files in a temp dir
//   weft::test::KeyCert leaf = pki.Issue({.cn = "localhost", .dns = {"localhost"}});
//   std::string path = pki.Write("server", leaf);   // path + ".pem", path + ".key"
//
// Keys are ECDSA P-256 (fast to make and to handshake with). The temporary
// directory and its files are removed when the Pki is destroyed.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace weft::test {

struct KeyCert {
  std::string key_pem{};
  std::string cert_pem{};
};

struct CertSpec {
  std::string cn{};
  std::vector<std::string> dns{};  // subjectAltName DNS entries
  std::vector<std::string> ip{};   // subjectAltName IP entries
  long not_before_s = -3600;       // from now
  long not_after_s = 24 * 3600;    // from now
};

class Pki {
 public:
  Pki() {
    char tmpl[] = "/tmp/weft_tls_test.XXXXXX";
    dir_ = mkdtemp(tmpl) != nullptr ? tmpl : "";
    ca_key_ = EVP_EC_gen("P-256");
    ca_ = Make({.cn = "weft test CA"}, ca_key_, nullptr, nullptr, /*is_ca=*/true);
    ca_pem_.cert_pem = Pem(ca_);
    ca_pem_.key_pem = KeyPem(ca_key_);
    ca_file_ = Write("ca", ca_pem_) + ".pem";
  }
  ~Pki() {
    X509_free(ca_);
    EVP_PKEY_free(ca_key_);
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;

  const KeyCert& ca() const { return ca_pem_; }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& dir() const { return dir_; }

  // A leaf certificate signed by this CA.
  KeyCert Issue(const CertSpec& spec) const {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = Make(spec, key, ca_, ca_key_, /*is_ca=*/false);
    KeyCert out{KeyPem(key), Pem(cert)};
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
  }

  // Writes <dir>/<name>.pem and <dir>/<name>.key; returns <dir>/<name>.
  std::string Write(const std::string& name, const KeyCert& kc) const {
    std::string base = absl::StrCat(dir_, "/", name);
    std::ofstream(base + ".pem") << kc.cert_pem;
    std::ofstream(base + ".key") << kc.key_pem;
    return base;
  }

 private:
  static X509* Make(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                    bool is_ca) {
    static long serial = 1;
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after_s);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
    std::vector<std::string> sans;
    for (const std::string& d : spec.dns) sans.push_back("DNS:" + d);
    for (const std::string& i : spec.ip) sans.push_back("IP:" + i);
    AddExt(x, &ctx, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    AddExt(x, &ctx, NID_key_usage,
           is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    AddExt(x, &ctx, NID_subject_key_identifier, "hash");
    if (!is_ca) AddExt(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
    if (!sans.empty()) AddExt(x, &ctx, NID_subject_alt_name, absl::StrJoin(sans, ","));
    X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
    return x;
  }
  static void AddExt(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    if (ext == nullptr) return;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  static std::string Pem(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    return Drain(b);
  }
  static std::string KeyPem(EVP_PKEY* k) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    return Drain(b);
  }
  static std::string Drain(BIO* b) {
    char* data = nullptr;
    long len = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<std::size_t>(len));
    BIO_free(b);
    return s;
  }

  std::string dir_;
  EVP_PKEY* ca_key_ = nullptr;
  X509* ca_ = nullptr;
  KeyCert ca_pem_;
  std::string ca_file_;
};

}  // namespace weft::test
