// Package queue is the engine: queue keys, lanes, retries, crash recovery and the VPS operations run
// against VMmanager 6.
package queue
