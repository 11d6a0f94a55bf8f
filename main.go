// Command vmmpm is a terminal console for VMmanager 6 processing modules: the Add wizard, module
// parameters, a queued operations engine and a VMmanager 6 emulator. The command tree is package cli.
package main

import (
	"os"

	"vmmpm/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
