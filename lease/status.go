package lease

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// EngineInfo is one engine as vmmpm status lists it.
type EngineInfo struct {
	ID        int64     `json:"id"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	RenewedAt time.Time `json:"renewed_at"`
	Live      bool      `json:"live"`
	Lanes     int       `json:"lanes"` // lanes whose lease it holds now
	// Lacks are the modules whose current password this engine does not hold.
	Lacks []int64 `json:"lacks,omitempty"`
	// LacksWebhooks are the webhooks whose signing secret it does not hold.
	LacksWebhooks []uint64 `json:"lacks_webhook_secrets,omitempty"`
}

// lacking is how many passwords and webhook secrets e lacks: what world.score does not count.
func (e EngineInfo) lacking() [2]int { return [2]int{len(e.Lacks), len(e.LacksWebhooks)} }

// fewer says whether a lacks less than b: module passwords first, then webhook secrets (as
// world.score ranks them).
func fewer(a, b [2]int) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// splitSlots moves the webhook slots out of Lacks into LacksWebhooks.
func (e *EngineInfo) splitSlots() {
	modules := e.Lacks[:0]
	for _, m := range e.Lacks {
		if id, ok := SlotWebhook(m); ok {
			e.LacksWebhooks = append(e.LacksWebhooks, id)
		} else {
			modules = append(modules, m)
		}
	}
	e.Lacks = modules
	slices.Sort(e.LacksWebhooks)
}

// Engines lists the engines known to the database (the left ones are gone, the dead stay an hour).
func Engines(ctx context.Context, db DB) ([]EngineInfo, error) {
	var out []EngineInfo
	err := scanEach(ctx, db, func(r pgx.Rows) error {
		var x EngineInfo
		err := r.Scan(&x.ID, &x.Host, &x.PID, &x.Version, &x.StartedAt, &x.RenewedAt, &x.Live, &x.Lanes, &x.Lacks)
		x.splitSlots()
		out = append(out, x)
		return err
	}, `SELECT e.id, e.host, e.pid, e.version, e.started_at, e.renewed_at, e.expires_at > clock_timestamp(),
			(SELECT count(*) FROM lanes l WHERE l.holder = e.id AND l.lease_until > clock_timestamp()),
			ARRAY(SELECT mp.module_id FROM module_passwords mp WHERE NOT EXISTS (
				SELECT 1 FROM engine_passwords p WHERE p.engine_id = e.id AND p.module_id = mp.module_id AND p.version = mp.version)
				ORDER BY mp.module_id)
		FROM engines e ORDER BY e.id`)
	return out, err
}

// Outranked finds, among es, the live engine other than self that lacks the fewest current module
// passwords, then the fewest webhook secrets, when it lacks fewer than self does: the engine a host
// lacking some hands the AllModules lane to (the engine of a shared database). A live engine's Lacks
// and LacksWebhooks are the slots world.score does not count, so this agrees with the rule a claim
// applies (world.best).
func Outranked(es []EngineInfo, self int64) (EngineInfo, bool) {
	var mine [2]int
	known := false
	for _, e := range es {
		if e.ID == self {
			mine, known = e.lacking(), true
		}
	}
	var best EngineInfo
	found := false
	for _, e := range es {
		if e.Live && e.ID != self && known && fewer(e.lacking(), mine) && (!found || fewer(e.lacking(), best.lacking())) {
			best, found = e, true
		}
	}
	return best, found
}

// LaneHolders names the live engine holding each lane whose lease has not lapsed.
func LaneHolders(ctx context.Context, db DB) (map[Lane]EngineInfo, error) {
	out := map[Lane]EngineInfo{}
	err := scanEach(ctx, db, func(r pgx.Rows) error {
		var l Lane
		var e EngineInfo
		err := r.Scan(&l.Module, &l.Key, &e.ID, &e.Host, &e.PID, &e.Version)
		out[l] = e
		return err
	}, `SELECT l.module_id, l.queue_key, e.id, e.host, e.pid, e.version FROM lanes l JOIN engines e ON e.id = l.holder
		WHERE l.lease_until > clock_timestamp() AND e.expires_at > clock_timestamp()`)
	return out, err
}
