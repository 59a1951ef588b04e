// The seed's static web server: serves a directory with index files, conditional requests,
// ranges and sendfile.
//   static_server DIR [addr]    (default 127.0.0.1:8080)
#include <cstdio>
#include <string>

#include "weft/http.h"
#include "weft/weft.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: static_server DIR [addr]\n");
    return 2;
  }
  std::string root = argv[1];
  const char* addr = argc > 2 ? argv[2] : "127.0.0.1:8080";
  weft::run([&] {
    weft::http::Server srv;
    srv.addr = addr;
    srv.handler = weft::http::chain(weft::http::file_server(root), weft::http::access_log());
    std::printf("serving %s on http://%s\n", root.c_str(), addr);
    std::fflush(stdout);
    auto ec = srv.listen_and_serve();
    std::fprintf(stderr, "static_server: %s\n", ec.message().c_str());
  });
}
