package queue

import "vmmpm/store"

// Destroys says what an operation destroys for good, "" when it destroys nothing: the command line
// and the TUI ask before they queue one that does (the HTTPS API does not: its caller decided).
func Destroys(op string) string {
	switch op {
	case store.OpClose:
		return "the VM and its disks are deleted"
	case store.OpReinstall:
		return "its disk is wiped and the OS installed anew"
	}
	return ""
}

// CheckClient refuses an order without the client's email: there is no default client, so a VM is
// never made under a placeholder account.
func CheckClient(email string) error {
	if email == "" {
		return &store.ValidationError{Field: "client", Rule: "is required: the client's email, their VMmanager account (there is no default client)"}
	}
	return nil
}
