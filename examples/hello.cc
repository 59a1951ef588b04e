// The seed's first server: one handler on the default mux, in the style of Go's net/http.
//   hello [addr]    (default 127.0.0.1:8080)
#include <cstdio>

#include "weft/http.h"
#include "weft/weft.h"

int main(int argc, char** argv) {
  const char* addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
  weft::run([addr] {
    weft::http::handle_func("/", [](weft::http::ResponseWriter& w, weft::http::Request&) {
      (void)w.write("Hello from weft!");
    });
    std::printf("listening on http://%s\n", addr);
    std::fflush(stdout);
    auto ec = weft::http::listen_and_serve(addr);
    std::fprintf(stderr, "hello: %s\n", ec.message().c_str());
  });
}
