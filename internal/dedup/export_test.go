package dedup

// ClaimMode names how r makes claims: "unknown", "set-get" or "script".
func ClaimMode(r *Redis) string {
	switch r.mode.Load() {
	case modeSetGet:
		return "set-get"
	case modeScript:
		return "script"
	}
	return "unknown"
}

// UseScript makes r claim with the script, as on a server without SET NX GET.
func UseScript(r *Redis) { r.mode.Store(modeScript) }
