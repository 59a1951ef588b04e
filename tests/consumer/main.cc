// The consumer's program: a task sends over a channel to the main task; exits 0 on success.
#include <weft/weft.h>

#include <cstdio>

int main() {
  long sum = 0;
  weft::run([&] {
    weft::Chan<int> c(4);
    weft::go([c]() mutable {
      for (int i = 1; i <= 100; ++i) c.send(i);
      c.close();
    });
    for (int v : c) sum += v;
  });
  if (sum != 5050) {
    std::fprintf(stderr, "consumer: sum %ld, want 5050\n", sum);
    return 1;
  }
  std::puts("consumer: ok");
  return 0;
}
