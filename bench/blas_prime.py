"""Cold against primed OpenBLAS: one-thread torch.nn.functional.linear times
(us per call) on the shapes of docs/RESULTS.md §5, "OpenBLAS's cold packing
buffer", in a fresh process, optionally after one priming product.

    /usr/bin/python3 bench/blas_prime.py cold
    /usr/bin/python3 bench/blas_prime.py 512x512x512     # prime first (m x k x n)
    /usr/bin/python3 bench/blas_prime.py cold 2          # on 2 threads

Each call of the script is one process: the cold state lasts until a large
enough product has run, so cold and primed need separate processes.
"""
import sys
import time

import torch

SHAPES = [(256, 784, 300), (128, 784, 300), (32, 784, 300), (128, 300, 100), (256, 300, 100),
          (128, 100, 10), (256, 1024, 1024), (64, 4096, 4096)]  # (batch, in, out)


def us_per_call(f, repeats):
    f()
    t = time.perf_counter()
    for _ in range(repeats):
        f()
    return (time.perf_counter() - t) / repeats * 1e6


def main():
    prime = sys.argv[1] if len(sys.argv) > 1 else "cold"
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    if prime != "cold":
        m, k, n = map(int, prime.split("x"))
        torch.mm(torch.randn(m, k), torch.randn(k, n))
    times = []
    for batch, fan_in, fan_out in SHAPES:
        x, w = torch.randn(batch, fan_in), torch.randn(fan_out, fan_in)
        repeats = max(2, int(3e7 / (batch * fan_in * fan_out)))
        times.append(f"{batch}x{fan_in}x{fan_out}:{us_per_call(lambda: torch.nn.functional.linear(x, w), repeats):.0f}")
    print(prime.ljust(14), " ".join(times))


if __name__ == "__main__":
    main()
