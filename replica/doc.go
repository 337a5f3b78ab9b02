// Package replica holds the test of poolbot run as three replicas on one
// PostgreSQL: the leader is killed and another carries on its schedule and
// alerts, with no change applied twice and none missed.
package replica
