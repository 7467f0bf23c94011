// Package tooling tests the build tooling users meet first: the Makefile's
// targets and the scripts in hack/ behind them. The tests run the real
// Makefile and scripts, with a stand-in go command where a real build would
// take minutes, so they run in seconds in make test.
package tooling
