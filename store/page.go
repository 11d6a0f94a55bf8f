package store

// EachAfter calls fn for every record of kind T with an id above after, in id order, until fn returns false.
func EachAfter[T any, P recordPtr[T]](tx *Tx, after uint64, fn func(P) bool) error {
	return eachFrom[T, P](tx, Key(after+1), fn)
}
