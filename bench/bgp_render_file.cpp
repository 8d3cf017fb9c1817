// Prints the BIRD configuration confd renders for one node from a file of API objects.
//
//   bench_bgp_render_file --node NAME [--block CIDR]... FILE...
//
// Each FILE holds YAML documents (`---` separated) or JSON: an object, an array of objects or a
// List with `items`. Objects are sorted by kind: Node, BGPPeer, IPPool, BGPFilter, Secret, and
// BGPConfiguration (`default`, or `node.<NAME>` for this node; others are ignored). --block adds
// a block affine to this node. The configuration goes to stdout, the renderer's warnings to stderr
// ("warning: ..."). Exit status 1 when a file cannot be read or the render fails, 2 on bad usage.
// Used by bench/bgp_frr_routes.sh to start BIRD with exactly what confd would write.

#include "common/value.h"
#include "confd/render.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using caracal::Value;
using caracal::confd::BirdInputs;

bool addObject(BirdInputs& in, const Value& obj, std::string& error) {
  if (!obj.isObject()) {
    error = "not an object";
    return false;
  }
  caracal::Status st = caracal::confd::addBirdInput(in, obj);
  if (st.code() == caracal::Code::NotFound) {
    std::fprintf(stderr, "ignoring: %s\n", st.message().c_str());
  } else if (!st) {
    error = st.message();
    return false;
  }
  return true;
}

bool loadFile(BirdInputs& in, const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "%s: cannot open\n", path.c_str());
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  size_t first = text.find_first_not_of(" \t\r\n");
  std::vector<Value> docs;
  if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) {
    auto v = caracal::parseJson(text);
    if (!v) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), v.status().message().c_str());
      return false;
    }
    if (v->isArray()) {
      docs = v->asArray();
    } else {
      docs.push_back(std::move(*v));
    }
  } else {
    auto v = caracal::parseYamlDocuments(text);
    if (!v) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), v.status().message().c_str());
      return false;
    }
    docs = std::move(*v);
  }
  for (const Value& d : docs) {
    if (d.isNull()) {
      continue; // an empty YAML document
    }
    std::string error;
    if (!addObject(in, d, error)) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), error.c_str());
      return false;
    }
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  BirdInputs in;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--node" && i + 1 < argc) {
      in.nodeName = argv[++i];
    } else if (a == "--block" && i + 1 < argc) {
      in.affineBlocks.push_back(argv[++i]);
    } else if (!a.empty() && a[0] != '-') {
      files.push_back(a);
    } else {
      files.clear();
      break;
    }
  }
  if (in.nodeName.empty() || files.empty()) {
    std::fprintf(stderr, "usage: bench_bgp_render_file --node NAME [--block CIDR]... FILE...\n");
    return 2;
  }
  // BGPConfiguration node.<name> is matched against the node name, so read files after the flags.
  for (const std::string& f : files) {
    if (!loadFile(in, f)) {
      return 1;
    }
  }
  auto out = caracal::confd::renderBirdConfig(in);
  if (!out) {
    std::fprintf(stderr, "render: %s\n", out.status().message().c_str());
    return 1;
  }
  for (const std::string& w : out->warnings) {
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  }
  std::fwrite(out->text.data(), 1, out->text.size(), stdout);
  return std::ferror(stdout) ? 1 : 0;
}
