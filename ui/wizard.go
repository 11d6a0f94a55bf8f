package ui

import (
	"vmmpm/ui/common"
	"vmmpm/ui/wizardform"
)

// newWizard is the Add wizard (ui/wizardform) as a sub-screen of Modules.
func newWizard(ctx *common.Context, prefill wizardform.Prefill) common.Screen {
	return wizardform.NewScreen(ctx, wizardform.Options{Prefill: prefill})
}
