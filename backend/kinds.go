package backend

import (
	"fmt"

	"vmmpm/store"
)

type record[T any] interface {
	*T
	store.Record
}

// kind is how Local lists and reads one record type behind its name.
type kind struct {
	blank   func() store.Record
	newList func() any
	list    func(db *store.DB, out any) error
	get     func(db *store.DB, id uint64, out any) error
}

func kindFor[T any, P record[T]]() kind {
	return kind{
		blank:   func() store.Record { return P(new(T)) },
		newList: func() any { return new([]P) },
		list: func(db *store.DB, out any) error {
			dst, ok := out.(*[]P)
			if !ok {
				return fmt.Errorf("listing %s needs a %T, got %T", P(new(T)).Bucket(), dst, out)
			}
			rows, err := store.All[T, P](db)
			*dst = rows
			return err
		},
		get: func(db *store.DB, id uint64, out any) error {
			dst, ok := out.(P)
			if !ok {
				return fmt.Errorf("reading a %s needs a %T, got %T", P(new(T)).Bucket(), dst, out)
			}
			r, err := store.Load[T, P](db, id)
			if err != nil {
				return err
			}
			*dst = *r
			return nil
		},
	}
}

// kinds are the record kinds by name (their bucket).
var kinds = map[string]kind{
	KindOf[store.DataCenter](): kindFor[store.DataCenter](),
	KindOf[store.Department](): kindFor[store.Department](),
	KindOf[store.Module]():     kindFor[store.Module](),
	KindOf[store.Tariff]():     kindFor[store.Tariff](),
	KindOf[store.Service]():    kindFor[store.Service](),
	KindOf[store.Job]():        kindFor[store.Job](),
	KindOf[store.Task]():       kindFor[store.Task](),
}

// NewRecord returns an empty record of kind, for decoding; nil for an unknown kind.
func NewRecord(kind string) store.Record {
	if k, ok := kinds[kind]; ok {
		return k.blank()
	}
	return nil
}

// NewList returns an empty *[]*store.T for kind, for List to fill; nil for an unknown kind.
func NewList(kind string) any {
	if k, ok := kinds[kind]; ok {
		return k.newList()
	}
	return nil
}
