// Command-line plumbing the example servers share: dashed flag names and
// the listen address built from --host and --port.
//
//   int main(int argc, char** argv) {
//     examples::parse_dashed_flags(argc, argv);   // --max-conns or --max_conns
//     std::string address = examples::listen_address(absl::GetFlag(FLAGS_host),
//                                                    absl::GetFlag(FLAGS_port));
//   }
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/flags/parse.h"

namespace examples {

// "--max-conns=5" -> "--max_conns=5": abseil's flags spell names with
// underscores; the documented spelling has dashes. The returned pointers
// point into `store`, which must outlive them.
inline std::vector<char*> underscore_flag_names(int argc, char** argv,
                                                std::vector<std::string>* store) {
  store->assign(argv, argv + argc);
  std::vector<char*> out;
  for (std::string& a : *store) {
    if (a.rfind("--", 0) == 0) {
      for (std::size_t i = 2; i < a.size() && a[i] != '='; ++i) {
        if (a[i] == '-') a[i] = '_';
      }
    }
    out.push_back(a.data());
  }
  return out;
}

// absl::ParseCommandLine, with flag names taken in either spelling. Exits
// on a bad flag, as ParseCommandLine does.
inline void parse_dashed_flags(int argc, char** argv) {
  std::vector<std::string> store;
  std::vector<char*> args = underscore_flag_names(argc, argv, &store);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
}

// "host:port", with an IPv6 host in brackets ("[::1]:7000").
inline std::string listen_address(std::string host, int port) {
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

}  // namespace examples
