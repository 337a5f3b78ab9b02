package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/poolbot/poolbot/config"
)

// The configuration in the Kubernetes example loads as it stands.
func TestKubernetesExampleConfigLoads(t *testing.T) {
	raw, err := os.ReadFile("../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var toml []string
	in := false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.TrimSpace(l) == "config.toml: |":
			in = true
		case in && (strings.HasPrefix(l, "    ") || strings.TrimSpace(l) == ""):
			toml = append(toml, strings.TrimPrefix(l, "    "))
		case in:
			in = false
		}
	}
	if len(toml) < 10 {
		t.Fatalf("no config.toml found in the example (%d lines)", len(toml))
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(strings.Join(toml, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_SIGNING_SECRET", "s")
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-1")
	t.Setenv("POOLBOT_POSTGRES_DSN", "postgres://x@db/poolbot")
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != "postgres" || c.Server.Listen != "0.0.0.0:3000" || c.Log.Format != "json" {
		t.Errorf("store %q listen %q log %q", c.Store.Driver, c.Server.Listen, c.Log.Format)
	}
	// Someone can run image swaps and creates, and is told to be replaced.
	admins := 0
	for _, r := range c.Roles {
		if r.Name == "admin" {
			admins += len(r.Users) + len(r.Groups)
		}
	}
	if admins == 0 || !strings.Contains(string(raw), "Replace U0ADMIN00") {
		t.Error("the example's config grants no admin, or does not say to replace the placeholder id")
	}
	if c.Server.MetricsListen != "0.0.0.0:9090" {
		t.Errorf("metrics_listen %q: monitoring shares Slack's port", c.Server.MetricsListen)
	}
}

// yamlDocs splits the Kubernetes example into its documents, by kind.
func yamlDocs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	kind := regexp.MustCompile(`(?m)^kind: (\w+)$`)
	for _, d := range strings.Split(string(raw), "\n---\n") {
		if m := kind.FindStringSubmatch(d); m != nil {
			docs[m[1]] = d
		}
	}
	return docs
}

// The example exposes only /slack/* to Slack: the probes and Prometheus
// use the monitoring port, which neither the Service, the Ingress nor the
// NetworkPolicy opens to anyone else; and it runs a pinned image.
func TestKubernetesExampleExposesOnlySlack(t *testing.T) {
	docs := yamlDocs(t)
	for _, k := range []string{"Deployment", "Service", "Ingress", "NetworkPolicy", "ConfigMap"} {
		if docs[k] == "" {
			t.Fatalf("no %s in the example", k)
		}
	}
	dep := docs["Deployment"]
	img := regexp.MustCompile(`(?m)^\s+image: (\S+)`).FindStringSubmatch(dep)
	if img == nil {
		t.Fatal("no image")
	}
	if _, tag, ok := strings.Cut(img[1], ":"); !ok || tag == "" || tag == "latest" {
		t.Errorf("image %s is not pinned to a tag or digest", img[1])
	}
	for _, want := range []string{"name: http # /slack/* only\n              containerPort: 3000",
		"name: metrics # /metrics, /healthz, /readyz\n              containerPort: 9090"} {
		if !strings.Contains(dep, want) {
			t.Errorf("Deployment lacks %q", want)
		}
	}
	probes := regexp.MustCompile(`httpGet:\s+path: (\S+)\s+port: (\S+)`).FindAllStringSubmatch(dep, -1)
	if len(probes) != 3 {
		t.Errorf("%d probes, want liveness, readiness and startup", len(probes))
	}
	for _, p := range probes {
		if p[2] != "metrics" {
			t.Errorf("probe %s on port %s, want metrics", p[1], p[2])
		}
	}
	if strings.Contains(docs["Service"], "metrics") || !strings.Contains(docs["Service"], "targetPort: http") {
		t.Errorf("the Service must carry only the Slack port:\n%s", docs["Service"])
	}
	paths := regexp.MustCompile(`- path: (\S+)\s+pathType: (\S+)`).FindAllStringSubmatch(docs["Ingress"], -1)
	if len(paths) == 0 {
		t.Error("the Ingress routes no path")
	}
	for _, p := range paths {
		if p[1] != "/slack" && !strings.HasPrefix(p[1], "/slack/") {
			t.Errorf("the Ingress routes %s (%s), want only /slack", p[1], p[2])
		}
	}
	if strings.Contains(docs["Ingress"], "name: metrics") {
		t.Error("the Ingress routes the monitoring port")
	}
	np := docs["NetworkPolicy"]
	open := regexp.MustCompile(`(?s)- ports:\s+- port: (\S+)`).FindAllStringSubmatch(np, -1)
	if len(open) != 1 || open[0][1] != "http" {
		t.Errorf("the NetworkPolicy opens %v to everyone, want only http", open)
	}
	if !regexp.MustCompile(`(?s)- from:\s+- namespaceSelector:.*ports:\s+- port: metrics`).MatchString(np) {
		t.Error("the NetworkPolicy does not limit the monitoring port to a namespace")
	}
}

// The image is built from what the build needs: no history, local
// databases, configs with secrets or built binaries go to the builder.
func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", "/poolbot", "**/*.db", "**/*.db-wal", "**/*.test", "**/*.toml", "**/.env"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	// The migrations are embedded: they must reach the builder.
	for l := range lines {
		if !strings.HasPrefix(l, "#") && (strings.Contains(l, "migrations") || strings.HasSuffix(l, "*.sql")) {
			t.Errorf(".dockerignore excludes the migrations (%s)", l)
		}
	}
}

// The README's memory command measures one process: the built binary, not
// go run and its child, which pgrep -f would both match.
func TestReadmeMemoryCommand(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.Contains(l, "VmRSS") {
			continue
		}
		found = true
		if strings.Contains(l, "go run") || strings.Contains(l, "pgrep") || !strings.Contains(l, "go build") {
			t.Errorf("the memory command may measure another process than poolbot's: %s", l)
		}
	}
	if !found {
		t.Error("no memory command in the README")
	}
}
