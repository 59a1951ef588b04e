// prime_sieve: the concurrent prime sieve from Go's documentation — a chain of tasks connected
// by channels, each filtering out the multiples of one prime.
//
//   prime_sieve [count]          (default 100)
#include <weft/weft.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 100;
  weft::run([count] {
    weft::Chan<int> src;
    weft::go([src]() mutable {
      for (int i = 2;; ++i) src.send(i);
    });
    weft::Chan<int> in = src;
    for (int i = 0; i < count; ++i) {
      int prime = *in.recv();
      std::printf("%d\n", prime);
      weft::Chan<int> out;
      weft::go([in, out, prime]() mutable {
        for (;;) {
          int v = *in.recv();
          if (v % prime != 0) out.send(v);
        }
      });
      in = out;
    }
  });
  std::fflush(stdout);
  std::_Exit(0);  // the filter tasks run forever; end the process as Go's main does
}
