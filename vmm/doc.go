// Package vmm is the VMmanager 6 HTTP client: login and token cache, typed errors, and the calls the VPS
// operations need. Package vmm/sim is an emulator of the same API.
package vmm
