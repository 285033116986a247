package store

import "errors"

// ErrNotFound reports that the record named by an id or name does not exist. Test for it with
// errors.Is.
var ErrNotFound = errors.New("not found")

// ErrConflict reports that a write would break a uniqueness rule (a duplicate name, slug or
// link) or remove a record that others still reference. Test for it with errors.Is.
var ErrConflict = errors.New("conflict")

// ErrWrongKey reports that the encryption key does not open the database's sealed values.
var ErrWrongKey = errors.New("wrong encryption key")

// ErrSchemaTooNew reports that the database file was written by a newer psbridge whose schema
// this build does not understand.
var ErrSchemaTooNew = errors.New("database schema is newer than this build supports")
