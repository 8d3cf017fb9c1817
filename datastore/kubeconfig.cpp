#include "datastore/kubeconfig.h"

#include "common/base64.h"
#include "common/strings.h"
#include "common/value.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace caracal::datastore {

namespace {

Result<std::string> readFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::NotFound, "cannot read " + what + " " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool fileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return "";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string resolvePath(const std::string& baseDir, const std::string& p) {
  if (p.empty() || p.front() == '/' || baseDir.empty()) {
    return p;
  }
  return baseDir + "/" + p;
}

// The entry of a named list (clusters, users, contexts) whose name is `name`, or nullptr.
const Value* findNamed(const Value& root, std::string_view list, std::string_view name) {
  const Value* items = root.find(list);
  if (!items) {
    return nullptr;
  }
  for (const auto& item : items->asArray()) {
    if (item.getString("name") == name) {
      return &item;
    }
  }
  return nullptr;
}

// Inline base64 data wins over a file reference, as in kubectl.
Result<std::string> dataOrFile(const Value& section, const std::string& dataKey,
                               const std::string& fileKey, const std::string& baseDir,
                               const std::string& where) {
  std::string data = section.getString(dataKey);
  if (!data.empty()) {
    auto decoded = caracal::base64Decode(data, Base64Mode::Lenient);
    if (!decoded) {
      return decoded.error().withContext(where + ": " + dataKey);
    }
    return decoded;
  }
  std::string file = section.getString(fileKey);
  if (!file.empty()) {
    return readFile(resolvePath(baseDir, file), where + " " + fileKey);
  }
  return std::string();
}

} // namespace

Result<std::string> base64Decode(std::string_view in) {
  return caracal::base64Decode(in, Base64Mode::Lenient);
}

Result<ClientConfig> parseKubeconfig(std::string_view text, std::string_view context,
                                     const std::string& baseDir, const std::string& sourceName) {
  auto bad = [&](const std::string& why) {
    return Status(Code::Invalid, "kubeconfig " + sourceName + ": " + why);
  };
  auto parsed = parseYaml(text);
  if (!parsed) {
    return bad("invalid YAML: " + parsed.error().message());
  }
  const Value& root = *parsed;
  if (!root.isObject()) {
    return bad("expected a mapping at the top level");
  }

  const Value* ctx = nullptr;
  std::string ctxName(context);
  if (ctxName.empty()) {
    ctxName = root.getString("current-context");
  }
  if (!ctxName.empty()) {
    ctx = findNamed(root, "contexts", ctxName);
    if (!ctx) {
      return bad("context \"" + ctxName + "\" not found");
    }
  } else if (root.find("contexts") && root.find("contexts")->size() == 1) {
    ctx = &root.find("contexts")->asArray().front();
  }

  const Value* cluster = nullptr;
  const Value* user = nullptr;
  std::string namespaceName;
  if (ctx) {
    const Value* c = ctx->find("context");
    if (!c || !c->isObject()) {
      return bad("context \"" + ctx->getString("name") + "\" has no context section");
    }
    std::string clusterName = c->getString("cluster");
    cluster = findNamed(root, "clusters", clusterName);
    if (!cluster) {
      return bad("cluster \"" + clusterName + "\" of context \"" + ctx->getString("name") +
                 "\" not found");
    }
    std::string userName = c->getString("user");
    if (!userName.empty()) {
      user = findNamed(root, "users", userName);
      if (!user) {
        return bad("user \"" + userName + "\" of context \"" + ctx->getString("name") +
                   "\" not found");
      }
    }
    namespaceName = c->getString("namespace");
  } else {
    // No context at all: accept the plain case of one cluster and at most one user.
    const Value* clusters = root.find("clusters");
    const Value* users = root.find("users");
    if (!clusters || clusters->size() != 1 || (users && users->size() > 1)) {
      return bad("no current-context set");
    }
    cluster = &clusters->asArray().front();
    if (users && users->size() == 1) {
      user = &users->asArray().front();
    }
  }

  ClientConfig out;
  out.source = sourceName;
  out.namespaceName = namespaceName;
  const Value* cl = cluster->find("cluster");
  if (!cl || !cl->isObject()) {
    return bad("cluster \"" + cluster->getString("name") + "\" has no cluster section");
  }
  out.server = cl->getString("server");
  if (out.server.empty()) {
    return bad("cluster \"" + cluster->getString("name") + "\" has no server");
  }
  if (const Value* skip = cl->find("insecure-skip-tls-verify")) {
    out.insecure = skip->asBool();
  }
  std::string where =
      "kubeconfig " + sourceName + ": cluster \"" + cluster->getString("name") + "\"";
  ASSIGN_OR_RETURN(out.caPem, dataOrFile(*cl, "certificate-authority-data", "certificate-authority",
                                         baseDir, where));
  if (user) {
    const Value* u = user->find("user");
    if (u && u->isObject()) {
      std::string uwhere =
          "kubeconfig " + sourceName + ": user \"" + user->getString("name") + "\"";
      out.token = u->getString("token");
      std::string tokenFile = u->getString("tokenFile");
      if (out.token.empty() && !tokenFile.empty()) {
        ASSIGN_OR_RETURN(std::string tok,
                         readFile(resolvePath(baseDir, tokenFile), uwhere + " tokenFile"));
        out.token = trim(tok);
      }
      ASSIGN_OR_RETURN(out.clientCertPem, dataOrFile(*u, "client-certificate-data",
                                                     "client-certificate", baseDir, uwhere));
      ASSIGN_OR_RETURN(out.clientKeyPem,
                       dataOrFile(*u, "client-key-data", "client-key", baseDir, uwhere));
    }
  }
  return out;
}

Result<ClientConfig> loadKubeconfig(const std::string& path, std::string_view context) {
  ASSIGN_OR_RETURN(std::string text, readFile(path, "kubeconfig"));
  return parseKubeconfig(text, context, dirName(path), path);
}

std::optional<std::string> processEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) {
    return std::nullopt;
  }
  return std::string(v);
}

Result<ClientConfig> resolveClientConfig(const ConfigOverrides& flags, const EnvLookup& env,
                                         const std::string& defaultPath) {
  auto getenv = [&](const char* name) -> std::string {
    auto v = env ? env(name) : std::nullopt;
    return v ? *v : std::string();
  };

  ClientConfig cfg;
  bool found = false;
  if (!flags.server.empty()) {
    cfg.server = flags.server;
    cfg.token = !flags.token.empty() ? flags.token : getenv("CARACAL_TOKEN");
    cfg.source = "--server";
    found = true;
  } else if (std::string server = getenv("CARACAL_SERVER"); !server.empty()) {
    cfg.server = server;
    cfg.token = !flags.token.empty() ? flags.token : getenv("CARACAL_TOKEN");
    cfg.source = "$CARACAL_SERVER";
    found = true;
  } else if (!flags.kubeconfig.empty()) {
    ASSIGN_OR_RETURN(cfg, loadKubeconfig(flags.kubeconfig, flags.context));
    found = true;
  } else if (std::string list = getenv("KUBECONFIG"); !list.empty()) {
    std::vector<std::string> existing;
    for (const auto& p : split(list, ':')) {
      if (!p.empty() && fileExists(p)) {
        existing.push_back(p);
      }
    }
    if (existing.empty()) {
      return Status(Code::NotFound, "KUBECONFIG=" + list + ": no such file");
    }
    ASSIGN_OR_RETURN(cfg, loadKubeconfig(existing.front(), flags.context));
    found = true;
  } else if (!defaultPath.empty() && fileExists(defaultPath)) {
    ASSIGN_OR_RETURN(cfg, loadKubeconfig(defaultPath, flags.context));
    found = true;
  }
  if (!found) {
    return Status(Code::NotFound,
                  "no API server configured: use --server (and --token), set CARACAL_SERVER "
                  "(and CARACAL_TOKEN), use --kubeconfig, set KUBECONFIG, or run where " +
                      defaultPath + " exists");
  }
  // Flags refine whatever source was chosen.
  if (!flags.token.empty()) {
    cfg.token = flags.token;
  }
  if (!flags.certificateAuthority.empty()) {
    ASSIGN_OR_RETURN(cfg.caPem, readFile(flags.certificateAuthority, "certificate authority"));
  }
  if (flags.insecureSkipTlsVerify) {
    cfg.insecure = true;
  }
  return cfg;
}

} // namespace caracal::datastore
