// Package bench holds pullkey's Go benchmarks (cold paths per provider,
// run by `make bench`); the whole-process comparison table is printed by
// the report command in ./report.
package bench
