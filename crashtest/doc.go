// Package crashtest holds the test that kills poolbot with SIGKILL at random
// moments of commands, image swaps and scheduled changes, restarts it on the
// same SQLite store, and checks after every trial that nothing reached Azure
// unrecorded, twice, or untold.
package crashtest
