package redisclient_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/creditgate/creditgate/internal/redisclient"
	"github.com/creditgate/creditgate/internal/redisclient/redistest"
	"github.com/creditgate/creditgate/internal/secret"
)

func TestLiveURL(t *testing.T) {
	admin := redistest.Client(t)
	prefix := redistest.Prefix(t, admin)
	ctx := t.Context()

	c, err := redisclient.New(redisclient.Options{URL: secret.New(redistest.URL())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, prefix+"k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := admin.Get(ctx, prefix+"k").Result(); err != nil || got != "v" {
		t.Fatalf("GET through another client = %q, %v; want v", got, err)
	}
	if name, err := c.ClientGetName(ctx).Result(); err != nil || name != redisclient.DefaultClientName {
		t.Errorf("CLIENT GETNAME = %q, %v; want %q", name, err, redisclient.DefaultClientName)
	}
}

// TestLiveACLUser creates a throw-away ACL user limited to this test's keys, connects
// with it through the URL and through Username/Password, and checks that a wrong
// password fails without showing up in the error.
func TestLiveACLUser(t *testing.T) {
	admin := redistest.Client(t)
	prefix := redistest.Prefix(t, admin)
	ctx := t.Context()

	user := "cgtest-" + strings.ToLower(rand.Text()[:12])
	pass := "pw-" + rand.Text()
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~"+prefix+"*", "+@all").Err(); err != nil {
		t.Skipf("cannot create an ACL user on the test Redis (%v); skipping the ACL test", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := admin.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
			t.Errorf("ACL DELUSER %s: %v", user, err)
		}
	})

	base, err := url.Parse(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	withUser := *base
	withUser.User = url.UserPassword(user, pass)

	for name, o := range map[string]redisclient.Options{
		"user in URL":    {URL: secret.New(withUser.String())},
		"user in fields": {URL: secret.New(base.String()), Username: user, Password: secret.New(pass)},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := redisclient.New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Set(ctx, prefix+"acl", "ok", time.Minute).Err(); err != nil {
				t.Fatalf("SET as %s: %v", user, err)
			}
			if err := c.Set(ctx, "outside-the-prefix", "x", time.Minute).Err(); err == nil {
				t.Fatalf("SET outside the user's keys succeeded; the ACL user was not used")
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		wrong := "wrong-" + pass
		c, err := redisclient.New(redisclient.Options{URL: secret.New(base.String()), Username: user, Password: secret.New(wrong)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Ping(ctx).Err()
		if err == nil {
			t.Fatal("PING with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error shows the password: %v", err)
		}
	})
}
