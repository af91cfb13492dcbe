package deadletter

import "github.com/creditgate/creditgate/internal/storekey"

// EntryID is the id of the entry that parks event eventID of route: "<route>:<evt_id>".
func EntryID(route, eventID string) string { return storekey.DeadLetter(route, eventID) }
