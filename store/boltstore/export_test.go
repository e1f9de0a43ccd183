package boltstore

// Groups returns how many bbolt write transactions s has committed (each one a group of one or
// more store transactions).
func Groups(s *Store) int64 { return s.groups.Load() }
