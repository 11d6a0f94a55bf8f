package store

import "time"

// SetFeedPruning sets how often a handle prunes the feed and how many rows one commit drops, for a
// test, returning what puts them back.
func SetFeedPruning(every time.Duration, most int) (restore func()) {
	oldEvery, oldMost := feedPruneEvery, feedPruneMax
	feedPruneEvery, feedPruneMax = every, most
	return func() { feedPruneEvery, feedPruneMax = oldEvery, oldMost }
}

// PruneFeedNext makes db's next commit that writes jobs prune the feed, whenever it last did.
func PruneFeedNext(db *DB) { db.feedPruned.Store(0) }
