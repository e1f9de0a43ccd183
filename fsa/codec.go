package fsa

import (
	"encoding/json"
	"fmt"

	"github.com/fullstackagent/fsa/store"
)

// Record ids for keyed kinds: the unique key is the id, so "already exists" is a store
// precondition (the record must be absent), safe under concurrent writers.
func identityID(p Provider, providerUserID string) string { return string(p) + ":" + providerUserID }
func configID(userID, key string) string                  { return userID + "/" + key }
func envID(projectID, key string) string                  { return projectID + "/" + key }

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, times and slices are encoded: this cannot fail.
		panic(fmt.Sprintf("fsa: encode %T: %v", v, err))
	}
	return b
}

func decode[T any](r store.Record) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(r.Data, v); err != nil {
		return nil, fmt.Errorf("decode %s %q: %w", r.Kind, r.ID, err)
	}
	return v, nil
}

func decodeProject(r store.Record) (*Project, error) {
	p, err := decode[Project](r)
	if err == nil {
		p.Version = r.Version
	}
	return p, err
}

func decodeUser(r store.Record) (*User, error) {
	u, err := decode[User](r)
	if err == nil {
		u.Version = r.Version
	}
	return u, err
}

func projectRecord(p *Project) store.Record {
	return store.Record{Kind: store.KindProject, ID: p.ID, Owner: p.UserID, Status: string(p.Status), Data: encode(p)}
}

// childRecord is the record of child o of kind k.
func childRecord(k *childKind, o ChildObject) store.Record {
	c := o.Common()
	return store.Record{Kind: k.store, ID: c.ID, Owner: c.UserID, Parent: c.ProjectID, Status: string(c.Status), Data: encode(o)}
}

func envRecord(e *EnvVar) store.Record {
	return store.Record{Kind: store.KindEnvVar, ID: envID(e.ProjectID, e.Key), Owner: e.UserID, Parent: e.ProjectID, Data: encode(e)}
}

func userRecord(u *User) store.Record {
	return store.Record{Kind: store.KindUser, ID: u.ID, Data: encode(u)}
}

func identityRecord(i *Identity) store.Record {
	return store.Record{Kind: store.KindIdentity, ID: identityID(i.Provider, i.ProviderUserID), Owner: i.UserID, Data: encode(i)}
}

func configRecord(c *UserConfig) store.Record {
	return store.Record{Kind: store.KindUserConfig, ID: configID(c.UserID, c.Key), Owner: c.UserID, Data: encode(c)}
}
