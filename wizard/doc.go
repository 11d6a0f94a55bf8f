// Package wizard is the Add flow for a VMmanager 6 processing module: steps, fields, validation and the
// draft that becomes a store.Module. It knows nothing of the terminal: the interactive wizard
// (ui/wizardform) and `vmmpm module add --spec` share its validators, so both refuse the same input with
// the same words.
package wizard
