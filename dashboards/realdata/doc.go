// Package realdata holds the end-to-end check of the generated dashboards and SLO rules: the
// real aiservice binary scraped by a real Prometheus (see realdata_test.go). It has no code of
// its own.
package realdata
