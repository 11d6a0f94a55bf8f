// Package riverpg benchmarks the vmmpm engine against River on the same PostgreSQL (issue 25). It is
// a module of its own so River's dependencies never enter vmmpm's go.mod; the benchmark is in
// bench_test.go and README.md says how to run it.
package riverpg
