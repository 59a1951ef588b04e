// echo_server: a TCP echo server, one task per connection, written in blocking style.
//
//   echo_server [host:port]      (default 127.0.0.1:8080)
//
// Try it with `nc 127.0.0.1 8080`. Connections idle for 60 s are closed.
#include <weft/weft.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  std::string addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
  weft::run([&] {
    auto listener = weft::net::listen(addr);
    if (!listener) {
      std::fprintf(stderr, "echo_server: listen %s: %s\n", addr.c_str(),
                   listener.error().message().c_str());
      return;
    }
    std::printf("echo_server listening on %s (%d processors)\n", listener->addr().c_str(),
                weft::max_procs());
    std::fflush(stdout);
    for (;;) {
      auto conn = listener->accept();
      if (!conn) {
        std::fprintf(stderr, "echo_server: accept: %s\n", conn.error().message().c_str());
        continue;
      }
      weft::go([c = std::move(conn.value())]() mutable {
        char buf[16 * 1024];
        for (;;) {
          c.set_read_deadline(weft::net::Clock::now() + std::chrono::seconds(60));
          auto n = c.read(buf, sizeof buf);
          if (!n || *n == 0) return;  // error, timeout or end of stream
          if (!c.write(std::string_view(buf, *n))) return;
        }
      });
    }
  });
}
