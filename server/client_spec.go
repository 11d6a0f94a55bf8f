package server

import (
	"context"

	"vmmpm/backend"
	"vmmpm/wizard"
)

// AddModule sends the password over the owner-only socket; the server logs in to VMmanager and
// writes it to the keyring.
func (c *Client) AddModule(ctx context.Context, spec *wizard.Spec, password string) (*backend.ModuleAdded, error) {
	var res *backend.ModuleAdded
	err := c.call(ctx, "add_module", addModuleArgs{Spec: spec, Password: password}, &res)
	return res, err
}

func (c *Client) SaveTariffSpec(ctx context.Context, id uint64, spec *wizard.TariffSpec) (*backend.TariffSaved, error) {
	var res *backend.TariffSaved
	err := c.call(ctx, "save_tariff_spec", tariffSpecArgs{ID: id, Spec: spec}, &res)
	return res, err
}
