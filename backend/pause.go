package backend

import (
	"context"
	"fmt"

	"vmmpm/queue"
	"vmmpm/store"
)

// ModuleActivity is what of one module runs and waits, and its pause: module pause, resume and
// drain print it.
type ModuleActivity struct {
	ModuleID uint64             `json:"module_id"`
	Name     string             `json:"name"`
	Paused   *queue.ModulePause `json:"paused,omitempty"`
	Running  int                `json:"running"`
	Queued   int                `json:"queued"`
	Retrying int                `json:"retrying"`
	// Engine: an engine runs where this was answered. Without one nothing runs now, whatever Running
	// counts (jobs an interrupted engine left running resume when one starts).
	Engine bool `json:"engine"`
}

// Progress is the drain's line: "2 running, 14 queued".
func (a *ModuleActivity) Progress() string {
	return queue.Activity{Running: a.Running, Queued: a.Queued, Retrying: a.Retrying}.String()
}

func (l *Local) PauseModule(ctx context.Context, id uint64, pause bool) (_ *ModuleActivity, err error) {
	action := map[bool]string{true: "module.pause", false: "module.resume"}[pause]
	defer func() { l.audit(ctx, action, fmt.Sprintf("module %d", id), err) }()
	a, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	if pause {
		_, err = a.PauseModule(id)
	} else {
		err = a.ResumeModule(id)
	}
	if err != nil {
		return nil, err
	}
	return l.ModuleActivity(ctx, id)
}

func (l *Local) ModuleActivity(_ context.Context, id uint64) (*ModuleActivity, error) {
	e, err := l.Engine()
	if err != nil {
		return nil, err
	}
	m, err := store.Load[store.Module](l.DB, id)
	if err != nil {
		return nil, &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("module %d does not exist; see vmmpm module list", id)}
	}
	act, err := e.ModuleActivity(id)
	if err != nil {
		return nil, err
	}
	return &ModuleActivity{ModuleID: id, Name: m.Name, Paused: pauseOf(e, id), Running: act.Running,
		Queued: act.Queued, Retrying: act.Retrying, Engine: l.Mode == ModeEngine}, nil
}

// pauseOf is module id's pause, nil when it runs or no engine could be asked.
func pauseOf(e *queue.Engine, id uint64) *queue.ModulePause {
	if e == nil {
		return nil
	}
	if p, ok := e.Pauses()[id]; ok {
		return &p
	}
	return nil
}
