package server

import (
	"context"

	"vmmpm/backend"
)

// The routes of module pause, resume and drain (backend/pause.go).

type pauseArgs struct {
	ID    uint64 `json:"id"`
	Pause bool   `json:"pause"`
}

func (s *Server) pauseRoutes() map[string]call {
	b := s.backend
	return map[string]call{
		"pause_module": rpc(func(ctx context.Context, a *pauseArgs) (*backend.ModuleActivity, error) {
			return b.PauseModule(ctx, a.ID, a.Pause)
		}),
		"module_activity": reads(rpc(func(ctx context.Context, a *idArgs) (*backend.ModuleActivity, error) {
			return b.ModuleActivity(ctx, a.ID)
		})),
	}
}

func (c *Client) PauseModule(ctx context.Context, id uint64, pause bool) (*backend.ModuleActivity, error) {
	var out *backend.ModuleActivity
	err := c.call(ctx, "pause_module", pauseArgs{ID: id, Pause: pause}, &out)
	return out, err
}

func (c *Client) ModuleActivity(ctx context.Context, id uint64) (*backend.ModuleActivity, error) {
	var out *backend.ModuleActivity
	err := c.call(ctx, "module_activity", idArgs{ID: id}, &out)
	return out, err
}
