// Package wizard is the Add flow for a VMmanager 6 processing module: steps, fields, validation and the
// draft that becomes a store.Module. It knows nothing of the terminal.
package wizard
