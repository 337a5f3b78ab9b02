package commands

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/poolbot/poolbot/pool"
)

// createCommands is the command table's entries of create.go.
func createCommands() []*command {
	return []*command{{
		name:  "create",
		usage: "create <name> [template=T] [max=N] [standby=N] [sku=SKU] [image=IMAGE]",
		help: "Creates a scale set from a template in the config and links it as an elastic pool, after " +
			"confirmation. Options override the template's.",
		role: RoleAdmin,
		keys: []string{"template", "max", "standby", "sku", "image"},
		min:  1, max: 1, pool: newPool,
		run: runCreate,
	}}
}

// poolName is what both an agent pool and a scale set may be called.
var poolName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func runCreate(ctx context.Context, c *call) error {
	name := c.pools[0]
	if !poolName.MatchString(name) || strings.HasSuffix(name, ".") {
		return usagef("%q cannot name a pool: use up to 63 letters, digits, '-', '_' or '.', starting with a letter or digit", name)
	}
	pools, err := c.h.o.Service.List(ctx, pool.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	for _, p := range pools {
		if strings.EqualFold(p.Name, name) {
			return &pool.Error{Kind: pool.KindConflict, Pool: name, Msg: fmt.Sprintf("a pool named %s already exists", p.Name)}
		}
	}
	t, err := c.h.template(c.args)
	if err != nil {
		return err
	}
	spec, err := c.h.createSpec(name, t, c.args)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%s %s in %s (%s), image %s, standby %d, max %d, ttl %d min",
		spec.OS, spec.SKU, spec.Region, spec.ResourceGroup, spec.Image.Short(), spec.Standby, spec.Max, spec.TTLMinutes)
	if !c.confirmed {
		q := sayf("Create pool *%s* from template %s?\n%s", name, t.Name, summary)
		return c.askConfirm(ctx, q, "Create", false)
	}
	if err := c.respond(ctx, say(sayf(":hourglass: Creating %s: %s…", name, summary))); err != nil {
		return err
	}
	p, err := c.h.o.Changer.Create(ctx, c.actor, c.text, spec)
	if err != nil {
		return err
	}
	return c.respond(ctx, announce(sayf("%s created pool *%s* (%s): standby %d, max %d", c.who(), p.Name, summary, p.Standby, p.Max)))
}

// Template is what `create` builds a scale set from ([[templates]]).
type Template struct {
	Name                 string
	OS                   string // linux or windows, in lower case
	SKU                  string
	Image                string
	Region               string
	ResourceGroup        string
	SubnetID             string
	EphemeralOSDisk      bool
	AdminUser            string
	SSHPublicKey         string
	AdminPassword        Password
	Standby              int
	Max                  int
	TTLMinutes           int
	Recycle              bool
	ServiceEndpointID    string
	ServiceEndpointScope string
	ProjectID            string
	Channel              string
	Tags                 []string // "key=value"
}

// Password is a template's admin password. It prints as "[redacted]"
// however it is formatted or logged, so that a template never shows it.
type Password string

func (p Password) String() string                { return "[redacted]" }
func (p Password) GoString() string              { return "commands.Password([redacted])" }
func (p Password) MarshalText() ([]byte, error)  { return []byte("[redacted]"), nil }
func (p Password) LogValue() slog.Value          { return slog.StringValue("[redacted]") }
func (p Password) Format(f fmt.State, verb rune) { fmt.Fprint(f, "[redacted]") }

// Azure is where `create` puts a scale set unless its template says.
type Azure struct {
	Subscription  string
	ResourceGroup string
}

// template picks the template= named, or the only one, or one named
// "default".
func (h *Handler) template(a Args) (Template, error) {
	ts := h.o.Templates
	if len(ts) == 0 {
		return Template{}, &pool.Error{Kind: pool.KindInvalid, Msg: "no pool templates are configured; add a [[templates]] section to the config"}
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	want, given := a.Get("template")
	if !given {
		if len(ts) == 1 {
			return ts[0], nil
		}
		want = "default"
	}
	for _, t := range ts {
		if strings.EqualFold(t.Name, want) {
			return t, nil
		}
	}
	if !given {
		return Template{}, usagef("say which template: %s", strings.Join(names, ", "))
	}
	msg := fmt.Sprintf("there is no template %q", want)
	if s, ok := suggest(want, names); ok {
		msg += fmt.Sprintf("; did you mean %s", s)
	} else {
		msg += "; templates: " + strings.Join(names, ", ")
	}
	return Template{}, usagef("%s", msg)
}

// createSpec builds what Create needs from the template, the options and
// the Azure defaults.
func (h *Handler) createSpec(name string, t Template, a Args) (pool.CreateSpec, error) {
	spec := pool.CreateSpec{
		Name: name, OS: pool.OS(t.OS), // config gives it lower case, linux or windows
		Subscription: h.o.Azure.Subscription, ResourceGroup: t.ResourceGroup,
		Region: t.Region, SKU: t.SKU, SubnetID: t.SubnetID, EphemeralOSDisk: t.EphemeralOSDisk,
		AdminUser: t.AdminUser, SSHPublicKey: t.SSHPublicKey, AdminPassword: string(t.AdminPassword),
		Standby: t.Standby, Max: t.Max, TTLMinutes: t.TTLMinutes, Recycle: t.Recycle,
		ServiceEndpointID: t.ServiceEndpointID, ServiceEndpointScope: t.ServiceEndpointScope, ProjectID: t.ProjectID,
	}
	if spec.OS != pool.Linux && spec.OS != pool.Windows {
		return spec, &pool.Error{Kind: pool.KindInvalid, Msg: fmt.Sprintf("template %s has os %q; it must be linux or windows", t.Name, t.OS)}
	}
	if spec.ResourceGroup == "" {
		spec.ResourceGroup = h.o.Azure.ResourceGroup
	}
	if v, ok := a.Get("sku"); ok {
		spec.SKU = v
	}
	img := t.Image
	if v, ok := a.Get("image"); ok {
		img = v
	}
	if img == "" {
		return spec, usagef("template %s names no image; give image=…", t.Name)
	}
	var err error
	if spec.Image, err = pool.ParseImage(img); err != nil {
		return spec, usagef("%v", err)
	}
	for _, o := range []struct {
		key string
		dst *int
		lo  int
	}{{"standby", &spec.Standby, 0}, {"max", &spec.Max, 1}} {
		if v, ok := a.Get(o.key); ok {
			if *o.dst, err = parseCount(o.key, v, o.lo, maxAgents); err != nil {
				return spec, err
			}
		}
	}
	if spec.Max == 0 {
		spec.Max = 1
	}
	probe := pool.Pool{Standby: spec.Standby, Max: spec.Max, TTLMinutes: spec.TTLMinutes}
	if err := (pool.Settings{}).Validate(probe); err != nil {
		return spec, usagef("%v", err)
	}
	if spec.SKU == "" {
		return spec, usagef("template %s names no sku; give sku=…", t.Name)
	}
	for _, tag := range t.Tags {
		k, v, _ := strings.Cut(tag, "=")
		if spec.Tags == nil {
			spec.Tags = map[string]string{}
		}
		spec.Tags[k] = v
	}
	return spec, nil
}
