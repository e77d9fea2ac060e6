// Package bench compares Rebound with the libraries a Go programmer would
// pick instead. It holds no library code: the benchmarks are in the _test.go
// files of this directory (one file per scenario), the measurements a
// benchmark cannot make are programs under cmd/, and the AWS contention
// experiment is in contention/. README.md has the results and run.sh
// regenerates them.
//
// It is a module of its own, so that the comparison libraries stay out of
// Rebound's go.mod.
package bench
