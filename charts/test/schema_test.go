package test

import (
	"encoding/json"
	"strings"
	"testing"
)

// values.schema.json rejects what creditgate or Kubernetes would refuse later, and what
// would quietly weaken the restricted defaults. Each case must fail to render, naming
// the problem.
func TestSchemaRejectsBadValues(t *testing.T) {
	base := []string{chartDir + "/ci/default-values.yaml"}
	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"unknown top-level key", []string{"replicas=3"}, "replicas"},
		{"unknown mode", []string{"mode=daemonset"}, "mode"},
		{"route name with capitals", []string{"routes[0].name=Main", "routes[0].path=/x", "routes[0].forward.url=http://b/c"}, "name"},
		{"route path not absolute", []string{"routes[0].name=main", "routes[0].path=stripe", "routes[0].forward.url=http://b/c"}, "path"},
		{"route without forward url", []string{"routes[0].name=main", "routes[0].path=/x", "routes[0].forward.url=null"}, "url"},
		{"forward url with credentials", []string{"routes[0].name=main", "routes[0].path=/x", "routes[0].forward.url=http://u:p@b/c"}, "url"},
		{"secret inlined in a route", []string{"routes[0].name=main", "routes[0].path=/x", "routes[0].forward.url=http://b/c", "routes[0].stripe.signing_secrets={whsec_x}"}, "signing_secrets"},
		{"unsupported event", []string{"routes[0].name=main", "routes[0].path=/x", "routes[0].forward.url=http://b/c", "routes[0].events={customer.created}"}, "events"},
		{"too many forward attempts", []string{"routes[0].name=main", "routes[0].path=/x", "routes[0].forward.url=http://b/c", "routes[0].forward.attempts=11"}, "attempts"},
		{"duration without unit", []string{"config.shutdownTimeout=20"}, "shutdownTimeout"},
		{"log level", []string{"config.logLevel=verbose"}, "logLevel"},
		{"API key as signing secret", []string{"secrets.routes.main.stripeSigningSecrets={sk_live_123}"}, "stripeSigningSecrets"},
		{"publishable key as API key", []string{"secrets.routes.main.stripeApiKey=pk_live_123"}, "stripeApiKey"},
		{"short forwarding key", []string{"secrets.routes.main.forwardSigningKeys={short}"}, "forwardSigningKeys"},
		{"redis URL scheme", []string{"secrets.redisUrl=http://redis:6379"}, "redisUrl"},
		{"redis mode", []string{"redis.mode=cluster"}, "mode"},
		{"two replicas on the in-memory store", []string{"redis.mode=none", "replicaCount=2"}, "replicaCount"},
		{"HPA on the in-memory store", []string{"redis.mode=none", "replicaCount=1", "autoscaling.enabled=true"}, "enabled"},
		{"root allowed", []string{"podSecurityContext.runAsNonRoot=false"}, "runAsNonRoot"},
		{"privilege escalation", []string{"securityContext.allowPrivilegeEscalation=true"}, "allowPrivilegeEscalation"},
		{"writable root filesystem", []string{"securityContext.readOnlyRootFilesystem=false"}, "readOnlyRootFilesystem"},
		{"added capability", []string{"securityContext.capabilities.add={NET_ADMIN}"}, "add"},
		{"image digest format", []string{"image.digest=latest"}, "digest"},
		{"ingress enabled without hosts", []string{"ingress.hosts=null"}, "hosts"},
		{"service port out of range", []string{"service.port=70000"}, "port"},
		{"replicas zero", []string{"replicaCount=0"}, "replicaCount"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, chartDir, "cg", "payments", base, c.set)
			if err == nil {
				t.Fatalf("rendered with %v; the schema must reject it", c.set)
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
				t.Fatalf("failed, but not on the schema: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %q:\n%v", c.want, err)
			}
		})
	}
}

// Combinations the schema cannot see fail the render with a message saying what to do.
func TestTemplateRejectsMissingSecrets(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		set   []string
		want  string
	}{
		{"no secrets at all", nil, nil, "secrets.routes.main.stripeSigningSecrets"},
		{"no Redis URL", nil, []string{"secrets.routes.main.stripeSigningSecrets={whsec_a1}", "secrets.routes.main.forwardSigningKeys={0123456789abcdef0}"}, "secrets.redisUrl"},
		{"secrets of an unknown route", []string{chartDir + "/ci/default-values.yaml"}, []string{"secrets.routes.other.stripeSigningSecrets={whsec_a1}", "secrets.routes.other.forwardSigningKeys={0123456789abcdef0}"}, "secrets.routes.other names no route"},
		{"trial Redis in sidecar mode", []string{chartDir + "/ci/sidecar-values.yaml"}, []string{"redis.mode=inChart"}, "redis.mode=inChart"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, chartDir, "cg", "payments", c.files, c.set)
			if !errorContains(err, c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// The schema stays self-contained: Helm must not fetch anything to validate values.
func TestSchemaIsSelfContained(t *testing.T) {
	raw := readFile(t, chartDir+"/values.schema.json")
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var s any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	walk(s)
	if len(refs) == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, "#/") {
			t.Errorf("remote $ref %q", r)
		}
	}
}
