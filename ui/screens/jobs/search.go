package jobs

import "time"

// The filter runs where the jobs are (backend.JobsView, over the newest backend.SearchLimit of the
// tab); while jobs change it re-runs at most every searchRefresh.
const searchRefresh = 2 * time.Second
