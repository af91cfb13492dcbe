package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76/webhook"
)

// hostile is one request from an attacker or a broken sender.
type hostile struct {
	name       string
	method     string // default POST
	path       string // default /stripe/webhook
	body       func(evt, cs string) []byte
	sign       bool              // sign the body correctly with the route's secret
	headers    map[string]string // added after signing
	multi      map[string][]string
	transform  func(body []byte) []byte // applied after signing (what the wire carries)
	chunked    bool
	wantCode   int
	wantStatus string
	wantReason string // dead-letter reason, when dead_lettered
}

// TestHostileRequests sends more than forty hostile or broken requests. Each gets its
// exact answer, nothing reaches the backend, and no state is left behind except, for a
// correctly signed event that cannot be credited, its dead-letter entry and the
// settled event key.
func TestHostileRequests(t *testing.T) {
	requireRedis(t)
	paid := func(evt, cs string) []byte { return withIDs(t, paidFixture, evt, cs) }
	meta := func(k string, v any) func(evt, cs string) []byte {
		return func(evt, cs string) []byte {
			return mutate(t, paid(evt, cs), func(o, _ map[string]any) {
				m := o["metadata"].(map[string]any)
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
				if k == "user_id" {
					o["client_reference_id"] = nil
					o["customer"] = nil
				}
			})
		}
	}
	raw := func(s string) func(evt, cs string) []byte { return func(string, string) []byte { return []byte(s) } }
	deep := func(n int) func(evt, cs string) []byte {
		return func(evt, cs string) []byte {
			inner := strings.Repeat("[", n) + strings.Repeat("]", n)
			return []byte(`{"id":"` + evt + `","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":{"id":"` + cs + `","metadata":{"x":` + inner + `}}}}`)
		}
	}
	cases := []hostile{
		// Signature.
		{name: "no signature", body: paid, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "empty signature", body: paid, headers: map[string]string{"Stripe-Signature": ""}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "signature garbage", body: paid, headers: map[string]string{"Stripe-Signature": "t=;v1===,,garbage\t"}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "only v0", body: paid, headers: map[string]string{"Stripe-Signature": fmt.Sprintf("t=%d,v0=%s", time.Now().Unix(), strings.Repeat("a", 64))}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "8 KiB signature header", body: paid, headers: map[string]string{"Stripe-Signature": "t=1," + strings.Repeat("v1=ab,", 1500)}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "two Stripe-Signature headers, one valid", body: paid, sign: true,
			multi: map[string][]string{"Stripe-Signature": {"t=1,v1=" + strings.Repeat("0", 64)}}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "signed, then gzip-encoded on the wire", body: paid, sign: true, headers: map[string]string{"Content-Encoding": "gzip"},
			transform: gzipped, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "signed, then one byte flipped", body: paid, sign: true, transform: func(b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)/2] ^= 1
			return c
		}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "signed, then whitespace added", body: paid, sign: true, transform: func(b []byte) []byte { return append([]byte(" "), b...) },
			wantCode: 400, wantStatus: "invalid_signature"},
		// Size and shape.
		{name: "body over the limit", body: func(evt, cs string) []byte { return bytes.Repeat([]byte("a"), 70000) }, sign: true, wantCode: 413, wantStatus: "too_large"},
		{name: "body over the limit, chunked", body: func(evt, cs string) []byte { return bytes.Repeat([]byte("a"), 70000) }, sign: true, chunked: true, wantCode: 413, wantStatus: "too_large"},
		{name: "valid event, chunked", body: paid, sign: true, chunked: true, wantCode: 200, wantStatus: "forwarded"},
		{name: "empty body, signed", body: raw(""), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "not JSON, signed", body: raw("hello"), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "JSON array, signed", body: raw("[1,2,3]"), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "JSON null, signed", body: raw("null"), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "deeply nested JSON (20,000), signed", body: deep(20000), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "nested JSON (500) in metadata, signed", body: deep(500), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "unknown_payment_status"},
		{name: "invalid UTF-8 in id, signed", body: func(evt, cs string) []byte {
			return bytes.Replace(paid(evt, cs), []byte(evt), []byte(evt+"\xff\xfe"), 1)
		}, sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "two JSON objects, signed", body: func(evt, cs string) []byte { return append(paid(evt, cs), paid(evt, cs)...) }, sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "id of the wrong type, signed", body: raw(`{"id":5,"type":"checkout.session.completed","data":{"object":{}}}`), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "not an event object, signed", body: raw(`{"id":"evt_x","object":"charge","type":"checkout.session.completed","data":{"object":{}}}`), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		{name: "handled type, amount_total a string, signed", body: raw(`{"id":"evt_x","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_x","amount_total":"999"}}}`), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		// A type the route does not handle needs only a sound envelope: Stripe would
		// retry a 400 for days and then disable the endpoint.
		{name: "unhandled type, amount_total a string, signed", body: raw(`{"id":"evt_x","object":"event","type":"invoice.created","livemode":false,"data":{"object":{"id":"in_x","amount_total":"999"}}}`), sign: true, wantCode: 200, wantStatus: "ignored", wantReason: "event_type"},
		{name: "unhandled type without data, signed", body: raw(`{"id":"evt_x","object":"event","type":"customer.updated"}`), sign: true, wantCode: 200, wantStatus: "ignored", wantReason: "event_type"},
		{name: "unhandled type, id of the wrong type, signed", body: raw(`{"id":5,"type":"customer.updated","data":{"object":{}}}`), sign: true, wantCode: 400, wantStatus: "malformed_event"},
		// Credits.
		{name: `credits "1e9"`, body: meta("credits", "1e9"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: `credits "007"`, body: meta("credits", "007"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: `credits "9223372036854775808"`, body: meta("credits", "9223372036854775808"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: `credits " 5"`, body: meta("credits", " 5"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: `credits "5.0"`, body: meta("credits", "5.0"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: `credits "-5"`, body: meta("credits", "-5"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: `credits "0"`, body: meta("credits", "0"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		{name: "credits as a JSON number", body: meta("credits", 5), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "no_credits"},
		{name: "credits as a JSON float", body: meta("credits", 5.5), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "no_credits"},
		{name: "credits missing", body: meta("credits", nil), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "no_credits"},
		{name: "credits above max_credits", body: meta("credits", "100001"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_credits"},
		// User ids.
		{name: "user id with a newline", body: meta("user_id", "e747de39-1b54-4cd0-96eb-e68f155931e2\n{\"level\":\"INFO\"}"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_user_id"},
		{name: "user id with control characters", body: meta("user_id", "\x1b[31mroot\x07"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_user_id"},
		{name: "user id 10 KB long", body: meta("user_id", strings.Repeat("a", 10<<10)), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_user_id"},
		{name: "user id not a uuid", body: meta("user_id", "jenny.rosen@example.com"), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "bad_user_id"},
		{name: "user id missing", body: meta("user_id", nil), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "no_user_id"},
		{name: "user id as a JSON number", body: meta("user_id", 42), sign: true, wantCode: 200, wantStatus: "dead_lettered", wantReason: "no_user_id"},
		// Methods, paths and content types.
		{name: "GET", method: http.MethodGet, body: raw(""), wantCode: 405, wantStatus: "method_not_allowed"},
		{name: "PUT", method: http.MethodPut, body: paid, sign: true, wantCode: 405, wantStatus: "method_not_allowed"},
		{name: "DELETE", method: http.MethodDelete, body: raw(""), wantCode: 405, wantStatus: "method_not_allowed"},
		{name: "OPTIONS", method: http.MethodOptions, body: raw(""), wantCode: 405, wantStatus: "method_not_allowed"},
		{name: "PATCH", method: http.MethodPatch, body: paid, sign: true, wantCode: 405, wantStatus: "method_not_allowed"},
		{name: "unknown path", path: "/stripe/webhook/../admin", body: paid, sign: true, wantCode: 404, wantStatus: "not_found"},
		{name: "path with a trailing slash", path: "/stripe/webhook/", body: paid, sign: true, wantCode: 404, wantStatus: "not_found"},
		{name: "admin path on the webhook port", path: "/metrics", body: raw(""), wantCode: 404, wantStatus: "not_found"},
		{name: "form content type, unsigned", body: raw("a=b"), headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "text/plain content type, correctly signed", body: paid, sign: true, headers: map[string]string{"Content-Type": "text/plain"}, wantCode: 200, wantStatus: "forwarded"},
		{name: "Stripe's user agent, no signature", body: paid, headers: map[string]string{"User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}, wantCode: 400, wantStatus: "invalid_signature"},
		// Edge hardening (docs/security.md).
		{name: "20 KB method", method: strings.Repeat("M", 20<<10), body: raw(""), wantCode: 405, wantStatus: "method_not_allowed"},
		{name: "Content-Length over the limit with Expect: 100-continue", body: func(evt, cs string) []byte { return bytes.Repeat([]byte("a"), 70000) },
			headers: map[string]string{"Expect": "100-continue"}, wantCode: 413, wantStatus: "too_large"},
		{name: "non-ASCII path", path: "/stripe/webhook/%C3%A9%00", body: paid, sign: true, wantCode: 404, wantStatus: "not_found"},
		{name: "4 KB path", path: "/" + strings.Repeat("p", 4<<10), body: raw(""), wantCode: 404, wantStatus: "not_found"},
		{name: "signature with non-ASCII v1", body: paid, headers: map[string]string{"Stripe-Signature": fmt.Sprintf("t=%d,v1=é%s", time.Now().Unix(), strings.Repeat("a", 62))}, wantCode: 400, wantStatus: "invalid_signature"},
		{name: "livemode event on a test route", body: func(evt, cs string) []byte {
			return mutate(t, paid(evt, cs), func(_, ev map[string]any) { ev["livemode"] = true })
		}, sign: true, wantCode: 400, wantStatus: "livemode_mismatch"},
	}
	b := newBackend(t)
	p := startProxy(t, b, options{})
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evt, cs := newIDs()
			body := c.body(evt, cs)
			headers := map[string]string{"Content-Type": "application/json"}
			if c.sign {
				sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: time.Now()})
				headers["Stripe-Signature"] = sp.Header
			}
			for k, v := range c.headers {
				headers[k] = v
			}
			if c.transform != nil {
				body = c.transform(body)
			}
			before, _ := b.stats()
			code, status, answerBody := p.raw(t, c, body, headers)
			if code != c.wantCode || status != c.wantStatus {
				t.Fatalf("answer = %d %q, want %d %q (%s)", code, status, c.wantCode, c.wantStatus, answerBody)
			}
			if strings.Contains(answerBody, stripeSecret) || len(answerBody) > 200 {
				t.Errorf("answer too revealing: %q", answerBody)
			}
			after, _ := b.stats()
			keys := p.keysAbout(t, rdb, evt, cs)
			entry := rdb.HGet(context.Background(), p.prefix+"deadletter", "main:"+evt).Val()
			switch c.wantStatus {
			case "forwarded":
				if after != before+1 {
					t.Errorf("backend requests %d → %d", before, after)
				}
				return
			case "dead_lettered":
				if !strings.Contains(entry, `"reason":"`+c.wantReason+`"`) {
					t.Errorf("dead-letter entry = %.300s, want reason %s", entry, c.wantReason)
				}
				if want := []string{p.prefix + "event:main:" + evt}; !equal(keys, want) {
					t.Errorf("keys left = %v, want only the settled event key %v", keys, want)
				}
			default:
				if len(keys) != 0 || entry != "" {
					t.Errorf("a refused request left state: keys %v, dead-letter entry %q", keys, entry)
				}
			}
			if after != before && c.wantStatus != "dead_lettered" || c.wantStatus == "dead_lettered" && after != before {
				t.Errorf("the backend saw %d requests", after-before)
			}
		})
	}
	if strings.Contains(p.logs.String(), stripeSecret) {
		t.Error("logs leak the signing secret")
	}
	// Hostile values are clipped: no line carries a long run of one hostile byte.
	for _, long := range []string{strings.Repeat("M", 256), strings.Repeat("p", 256)} { // cut at 255 bytes
		if strings.Contains(p.logs.String(), long) {
			t.Errorf("a log line carries a hostile value unclipped (%.10s…)", long)
		}
	}
	// Every log line stays one line: no hostile value forged a second record.
	for _, line := range strings.Split(strings.TrimSpace(p.logs.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("a log line is not JSON: %.200q", line)
		}
	}
}

// raw sends one hostile request and returns the answer.
func (p *proxy) raw(t *testing.T, c hostile, body []byte, headers map[string]string) (int, string, string) {
	t.Helper()
	method, path := c.method, c.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/stripe/webhook"
	}
	var rd io.Reader = bytes.NewReader(body)
	if c.chunked {
		rd = io.MultiReader(bytes.NewReader(body)) // unknown length: the client sends chunked
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	must(t, err)
	if c.chunked {
		req.ContentLength = -1
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for k, vs := range c.multi {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.URL.Opaque = path // keep "/../" as sent
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a struct {
		Status string `json:"status"`
	}
	_ = jsonUnmarshal(b, &a)
	return resp.StatusCode, a.Status, string(b)
}

// keysAbout lists the Redis keys of this proxy that mention the event or the session.
func (p *proxy) keysAbout(t *testing.T, rdb *redis.Client, evt, cs string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{p.prefix + "*" + evt + "*", p.prefix + "*" + cs + "*"} {
		keys, err := rdb.Keys(context.Background(), pat).Result()
		must(t, err)
		out = append(out, keys...)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// TestHeaderFlood: more header bytes than the server accepts are refused by net/http
// with 431 before any handler runs.
func TestHeaderFlood(t *testing.T) {
	requireRedis(t)
	p := startProxy(t, newBackend(t), options{})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/stripe/webhook", strings.NewReader("{}"))
	for i := 0; i < 2000; i++ {
		req.Header.Add(fmt.Sprintf("X-Flood-%d", i), strings.Repeat("x", 64))
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("header flood = %d, want 431", resp.StatusCode)
	}
}

// TestSlowloris: a client dribbling its headers is cut off after the read-header
// timeout, and the server keeps serving others meanwhile.
func TestSlowloris(t *testing.T) {
	requireRedis(t)
	if testing.Short() {
		t.Skip("SKIPPED in -short: takes the 5 s read-header timeout")
	}
	p := startProxy(t, newBackend(t), options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	must(t, err)
	defer conn.Close()
	start := time.Now()
	_, _ = conn.Write([]byte("POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n"))
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 1024)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	// Dribble one header byte every 200 ms, for up to 15 s.
	go func() {
		for i := 0; i < 75; i++ {
			if _, err := conn.Write([]byte("X")); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	// Others are served meanwhile.
	evt, cs := newIDs()
	if a := p.deliver(withIDs(t, paidFixture, evt, cs)); a.Status != "forwarded" {
		t.Fatalf("a normal delivery during the slowloris: %s", a.Status)
	}
	select {
	case d := <-closed:
		if d < 4*time.Second || d > 10*time.Second {
			t.Fatalf("connection closed after %s, want about the 5 s read-header timeout", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the dribbling connection was never closed")
	}
}
