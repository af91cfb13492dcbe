package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/creditgate/creditgate/internal/secret"
	"github.com/creditgate/creditgate/internal/signature"
)

// hostileHeaders are Creditgate-Signature values a forger (or a broken proxy) may
// send a backend. None is valid, except the reformatted real signatures listed in
// reformatted (either verdict is fine for them); a verifier must never raise.
func hostileHeaders(valid string) map[string]string {
	_, v1, _ := strings.Cut(valid, "v1=")
	t := strings.Split(valid, ",")[0]
	return map[string]string{
		"empty":                     "",
		"non-ASCII v1":              t + ",v1=é" + v1[2:],
		"non-ASCII only":            "t=①②③,v1=ü",
		"unicode digits in t":       "t=١٧٦٤٢٧٠٣٨٢,v1=" + v1,
		"superscript t":             "t=²,v1=" + v1,
		"5000-digit t":              "t=" + strings.Repeat("9", 5000) + ",v1=" + v1,
		"1 MB header":               t + ",v1=" + strings.Repeat("a", 1<<20),
		"10,000 v1 parts":           t + strings.Repeat(",v1="+strings.Repeat("0", 64), 10000),
		"duplicated t":              t + "," + t + ",v1=" + v1,
		"only commas and equals":    strings.Repeat(",=", 1000),
		"NUL and newline":           t + ",v1=\x00\n" + v1,
		"v1 without t":              "v1=" + v1,
		"t without v1":              t,
		"valid v1 of another body":  t + ",v1=" + strings.Repeat("f", 64),
		"negative t":                "t=-1,v1=" + v1,
		"t with sign and spaces":    "t= +" + strings.TrimPrefix(t, "t=") + ",v1=" + v1,
		"upper-case hex of the mac": t + ",v1=" + strings.ToUpper(v1),
	}
}

// reformatted are the hostile cases that carry the real signature, only written
// differently: stripe-go accepts them, the stricter stdlib snippet does not.
var reformatted = map[string]bool{"duplicated t": true, "upper-case hex of the mac": true}

func signedHeader(body []byte, key string) string {
	return signature.Sign(body, []secret.Secret{secret.New(key)}, time.Now())
}

// TestPythonVerifierNeverRaises runs the README's stdlib verifier on hostile headers:
// every one is invalid, and none makes it raise (a backend would answer 500).
func TestPythonVerifierNeverRaises(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is required in CI")
		}
		t.Skip("SKIPPED: python3 not installed; the README's Python snippet is untested here")
	}
	body := []byte(`{"id":"cs_test_1","credits":100}`)
	valid := signedHeader(body, forwardKey)
	cases := hostileHeaders(valid)
	cases["control, the real header"] = valid
	dir := t.TempDir()
	raw, err := json.Marshal(cases)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "cases.json"), raw, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "body"), body, 0o600))
	script := readmeSnippet(t, "verify_stdlib.py") + `
import json, sys
body = open(sys.argv[1], "rb").read()
cases = json.load(open(sys.argv[2], encoding="utf-8"))
for name, header in sorted(cases.items()):
    try:
        print(name + ": " + ("valid" if verify_creditgate_signature(body, header, [sys.argv[3]]) else "invalid"))
    except Exception as e:
        print(name + ": raised " + type(e).__name__)
`
	must(t, os.WriteFile(filepath.Join(dir, "verify.py"), []byte(script), 0o600))
	out, err := exec.Command(python, filepath.Join(dir, "verify.py"), filepath.Join(dir, "body"), filepath.Join(dir, "cases.json"), forwardKey).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, verdict, _ := strings.Cut(line, ": ")
		got[name] = verdict
	}
	for name := range cases {
		want := "invalid"
		if name == "control, the real header" {
			want = "valid"
		}
		if reformatted[name] && (got[name] == "valid" || got[name] == "invalid") {
			continue
		}
		if got[name] != want {
			t.Errorf("%s: python says %q, want %q", name, got[name], want)
		}
	}
}

// TestGoVerifierNeverPanics: the README's Go verifier (stripe-go's ValidatePayload)
// refuses the same headers with an error, never a panic.
func TestGoVerifierNeverPanics(t *testing.T) {
	body := []byte(`{"id":"cs_test_1","credits":100}`)
	valid := signedHeader(body, forwardKey)
	if err := webhook.ValidatePayload(body, valid, forwardKey); err != nil {
		t.Fatalf("the real header: %v", err)
	}
	for name, h := range hostileHeaders(valid) {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: ValidatePayload panicked: %v", name, r)
				}
			}()
			if err := webhook.ValidatePayload(body, h, forwardKey); err == nil && !reformatted[name] {
				t.Errorf("%s: accepted", name)
			}
		}()
	}
}
