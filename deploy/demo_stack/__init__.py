"""What `make demo` runs on loopback (Redis, distribution registries, a token server standing in
for the vendor's, pushgate's API and workers, a sample image); the tests and benchmarks build on
the same pieces. Not part of any distribution."""
