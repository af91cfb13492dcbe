package pipeline

// AccountScopeSep separates the connected account from the user id in what a Connect
// route forwards: "acct_1bYhhkDlE8OUkVJV:e747de39-...".
const AccountScopeSep = ":"

// scopedUser is the user id the backend receives, for grants and reversals alike. On
// a Connect route it is scoped by the connected account: an account writes its
// sessions' metadata and client_reference_id itself, so the id it names is only
// meaningful within that account, and one account can never credit another account's
// user. The customer map and the purchase records keep the account's own id (a
// record also keeps the account).
func scopedUser(rt *Route, account, user string) string {
	if !rt.Connect || account == "" {
		return user
	}
	return account + AccountScopeSep + user
}
