package backend

import (
	"context"
	"fmt"

	"vmmpm/store"
	"vmmpm/wizard"
)

// ModuleAdded is AddModule's answer: the module saved and the warnings the admin should read.
type ModuleAdded struct {
	Module   *store.Module `json:"module"`
	Warnings []string      `json:"warnings,omitempty"`
}

// TariffSaved is SaveTariffSpec's answer: the tariff as saved and the warnings the admin should read.
type TariffSaved struct {
	Tariff   *store.Tariff `json:"tariff"`
	Warnings []string      `json:"warnings,omitempty"`
}

// errNoSpec refuses a call without its spec (a request from a client that left it out).
var errNoSpec = &store.ValidationError{Field: "spec", Rule: "must be given"}

func (l *Local) AddModule(ctx context.Context, spec *wizard.Spec, password string) (added *ModuleAdded, err error) {
	defer func() {
		target := "module"
		if added != nil && added.Module != nil {
			target = fmt.Sprintf("module %d", added.Module.ID)
		}
		l.audit(ctx, "module.add", target, err)
	}()
	if spec == nil {
		return nil, errNoSpec
	}
	m, warnings, err := wizard.AddFromSpec(ctx, l.DB, l.Secrets, spec, password)
	if err != nil {
		return nil, err
	}
	return &ModuleAdded{Module: m, Warnings: warnings}, nil
}

func (l *Local) SaveTariffSpec(ctx context.Context, id uint64, spec *wizard.TariffSpec) (saved *TariffSaved, err error) {
	defer func() {
		if saved != nil && saved.Tariff != nil {
			id = saved.Tariff.ID
		}
		l.audit(ctx, "tariff.save", fmt.Sprintf("tariff %d", id), err)
	}()
	if spec == nil {
		return nil, errNoSpec
	}
	t, warnings, err := wizard.SaveTariffSpec(ctx, l.DB, l.Secrets, id, spec)
	if err != nil {
		return nil, err
	}
	return &TariffSaved{Tariff: t, Warnings: warnings}, nil
}
