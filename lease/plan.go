package lease

// world is what one claim round sees of the database: the live engines and the lanes each holds,
// and who holds which module's current password.
type world struct {
	me     int64
	counts map[int64]int             // live engine → lanes whose lease it holds
	total  int                       // lanes in all
	need   map[int64]int64           // module → version of its current password (absent: any engine)
	has    map[int64]map[int64]int64 // engine → module → password version it holds
}

// share is the fair share: ceil(lanes / live engines).
func (w world) share() int {
	n := len(w.counts)
	if n == 0 {
		return 0
	}
	return (w.total + n - 1) / n
}

// AllModules is the module of a lane over every module (a shared database's single engine lane):
// only an engine holding as many current passwords as any live engine may take it, so a host
// lacking a password another live host holds never runs that module's jobs.
const AllModules = 0

// eligible says whether engine e holds module m's current password (for AllModules: holds the most).
func (w world) eligible(e, m int64) bool {
	if m == AllModules {
		return w.best(e)
	}
	v, gated := w.need[m]
	if !gated {
		return true
	}
	held, ok := w.has[e][m]
	return ok && held == v
}

// score ranks engine e by the current passwords it holds, module passwords first: one module's
// password outweighs every webhook secret (a host lacking it cannot run that module's jobs; one
// lacking a secret only cannot tell billing), so the engine goes to a host lacking the fewest module
// passwords, then the fewest webhook secrets.
func (w world) score(e int64) int {
	modules, hooks, slots := 0, 0, 0
	for m, v := range w.need {
		_, hook := SlotWebhook(m)
		if hook {
			slots++
		}
		if held, ok := w.has[e][m]; ok && held == v {
			if hook {
				hooks++
			} else {
				modules++
			}
		}
	}
	return modules*(slots+1) + hooks
}

// best says whether no live engine holds more current passwords than e.
func (w world) best(e int64) bool {
	mine := w.score(e)
	for o := range w.counts {
		if w.score(o) > mine {
			return false
		}
	}
	return true
}

// needy says whether another live engine that may take module m's lanes is below its share: only
// then is a lane of m worth handing over, so lanes only one engine may take never bounce.
func (w world) needy(m int64) bool {
	share := w.share()
	for e, n := range w.counts {
		if e != w.me && n < share && w.eligible(e, m) {
			return true
		}
	}
	return false
}

// plan picks, from the free lanes, those to claim (up to the share, or beyond it when no engine
// below its share may take the lane), then, from this engine's idle lanes (no job running), those
// to release so that an engine below its share gets them.
func (w world) plan(free, idle []Lane) (claim, release []Lane) {
	share, mine := w.share(), w.counts[w.me]
	for _, l := range free {
		if w.eligible(w.me, l.Module) && (mine < share || !w.needy(l.Module)) {
			claim = append(claim, l)
			mine++
		}
	}
	for i := len(idle) - 1; i >= 0 && mine > share; i-- {
		if w.needy(idle[i].Module) {
			release = append(release, idle[i])
			mine--
		}
	}
	return claim, release
}
