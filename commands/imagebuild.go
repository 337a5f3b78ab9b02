package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/slack-go/slack"

	"github.com/poolbot/poolbot/change"
	"github.com/poolbot/poolbot/pool"
)

// Pipelines queues and reads Azure Pipelines runs (azure.Client). Errors
// are *pool.Error in words; safe for concurrent use.
type Pipelines interface {
	RunPipeline(ctx context.Context, project string, id int) (pool.PipelineRun, error)
	PipelineRun(ctx context.Context, project string, id, run int) (pool.PipelineRun, error)
}

// imageBuild is a queued image build as the store keeps it, so that its
// progress is followed after a restart too.
type imageBuild struct {
	Pool          string           `json:"pool"`
	Run           pool.PipelineRun `json:"run"`
	Image         Image            `json:"image"`
	Channel       string           `json:"channel"`
	Key           string           `json:"key"` // the outbox key of its message
	Requester     string           `json:"requester"`
	RequesterName string           `json:"requester_name"`
	Source        string           `json:"source"`
	Groups        []string         `json:"groups,omitempty"`
	Running       bool             `json:"running"` // told as running
}

func buildKey(name string) string { return "image.build/" + name }

var buildIndex = pool.Index{Key: "image.builds"} // the pools with a build under way

// Image names the Azure Pipelines definition that builds a pool's image
// and how a new version of it is rolled out ([[images]]). app gives it with
// its defaults applied.
type Image struct {
	Pool     string // the pool it builds for
	Project  string // Azure DevOps project of the pipeline
	Pipeline int    // pipeline (definition) id
	// Rollout is "manual" (a build offers the new version) or "auto" (a
	// successful build starts its rollout).
	Rollout string
	// Canary is the number of agents moved first, "N" or "N%".
	Canary string
	// Batch is how many idle agents are reimaged at a time after the canary.
	Batch int
	// OnlineWithin bounds the time a canary agent takes to come online.
	OnlineWithin time.Duration
	// Watch is how long the canary is watched before the rest follow.
	Watch time.Duration
	// MaxFailureIncrease is how much more often than the old image's recent
	// jobs the canary's may fail (0.2: 20 points).
	MaxFailureIncrease float64
	// MinJobs is the number of canary jobs needed to judge their failure rate.
	MinJobs int
}

// storedImage is an Image as a build in the store keeps it: the field
// names of Go, the durations as text ("15m0s"), as builds queued by earlier
// versions of poolbot were written.
type storedImage struct {
	Pool               string
	Project            string
	Pipeline           int
	Rollout            string
	Canary             string
	Batch              int
	OnlineWithin       textDuration
	Watch              textDuration
	MaxFailureIncrease float64
	MinJobs            int
}

// textDuration is a duration written as text in JSON ("30m0s").
type textDuration time.Duration

func (d textDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *textDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration: %q", b)
	}
	*d = textDuration(v)
	return nil
}

func (im Image) MarshalJSON() ([]byte, error) {
	return json.Marshal(storedImage{Pool: im.Pool, Project: im.Project, Pipeline: im.Pipeline, Rollout: im.Rollout,
		Canary: im.Canary, Batch: im.Batch, OnlineWithin: textDuration(im.OnlineWithin), Watch: textDuration(im.Watch),
		MaxFailureIncrease: im.MaxFailureIncrease, MinJobs: im.MinJobs})
}

func (im *Image) UnmarshalJSON(b []byte) error {
	var s storedImage
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*im = Image{Pool: s.Pool, Project: s.Project, Pipeline: s.Pipeline, Rollout: s.Rollout, Canary: s.Canary,
		Batch: s.Batch, OnlineWithin: time.Duration(s.OnlineWithin), Watch: time.Duration(s.Watch),
		MaxFailureIncrease: s.MaxFailureIncrease, MinJobs: s.MinJobs}
	return nil
}

// imageConfig returns pool name's image pipeline, if configured.
func (h *Handler) imageConfig(name string) (Image, bool) {
	for _, im := range h.o.Images {
		if strings.EqualFold(im.Pool, name) {
			return im, true
		}
	}
	return Image{}, false
}

// runImageBuild queues a run of the pool's image pipeline; StepImages
// follows it in the channel's message.
func runImageBuild(ctx context.Context, c *call) error {
	name := c.pools[0]
	im, ok := c.h.imageConfig(name)
	if !ok {
		return &pool.Error{Kind: pool.KindInvalid, Pool: name,
			Msg: "no image pipeline is configured for " + name + ": add an [[images]] entry with pool = \"" + name + "\", project and pipeline to poolbot's configuration"}
	}
	if c.h.o.Pipelines == nil {
		return &pool.Error{Kind: pool.KindUnavailable, Pool: name, Msg: "poolbot has no Azure Pipelines client, so it cannot run image pipelines"}
	}
	if v, err := c.h.o.Store.Get(ctx, buildKey(name)); err == nil {
		var b imageBuild
		if json.Unmarshal([]byte(v), &b) == nil && !b.Run.Done() {
			return &pool.Error{Kind: pool.KindConflict, Pool: name,
				Msg: fmt.Sprintf("an image build of %s is already running (run %d): %s", name, b.Run.ID, b.Run.URL)}
		}
	}
	run, err := c.h.o.Pipelines.RunPipeline(ctx, im.Project, im.Pipeline)
	if err != nil {
		return err
	}
	b := imageBuild{Pool: name, Run: run, Image: im, Channel: c.req.ChannelID, Key: "build/" + uuid.NewString(),
		Requester: c.req.UserID, RequesterName: c.req.UserName, Source: c.req.Source, Groups: c.req.Groups}
	if err := c.h.saveBuild(ctx, b, true); err != nil {
		return err
	}
	c.h.auditBuild(ctx, b, "build image (run "+fmt.Sprint(run.ID)+")", "ok")
	c.h.tellBuild(ctx, b, "post", buildText(b), nil)
	return c.respond(ctx, say(sayf(":hourglass: Queued run %d of %s's image pipeline; progress in the channel.", run.ID, name)))
}

func buildText(b imageBuild) string {
	link := fmt.Sprintf("<%s|run %d>", b.Run.URL, b.Run.ID)
	switch {
	case b.Run.Done() && b.Run.Result == "succeeded":
		return fmt.Sprintf(":white_check_mark: The image build of *%s* (%s) succeeded: version `%s`.", b.Pool, link, orLatest(b.Run.Version))
	case b.Run.Done():
		return fmt.Sprintf(":x: The image build of *%s* (%s) %s; nothing was changed.", b.Pool, link, b.Run.Result)
	case b.Running:
		return fmt.Sprintf(":gear: The image build of *%s* (%s) is running.", b.Pool, link)
	}
	return fmt.Sprintf(":hourglass: The image build of *%s* (%s) is queued.", b.Pool, link)
}

func orLatest(v string) string {
	if v == "" {
		return "latest"
	}
	return v
}

// StepImages follows queued image builds (and starts or offers their
// rollouts) and moves image rollouts on. The leader calls it every
// minute or so.
func (h *Handler) StepImages(ctx context.Context) error {
	var errs []error
	names, err := h.buildIndex(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range names {
		if err := h.stepBuild(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("image build of %s: %w", name, err))
		}
	}
	if err := h.o.Changer.StepRollouts(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (h *Handler) stepBuild(ctx context.Context, name string) error {
	v, err := h.o.Store.Get(ctx, buildKey(name))
	if err != nil {
		return err
	}
	var b imageBuild
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		return err
	}
	if h.o.Pipelines == nil {
		return nil
	}
	run, err := h.o.Pipelines.PipelineRun(ctx, b.Run.Project, b.Run.PipelineID, b.Run.ID)
	if err != nil {
		return err
	}
	b.Run = run
	if !run.Done() {
		if b.Running || run.State != "inProgress" {
			return nil
		}
		b.Running = true
		if err := h.saveBuild(ctx, b, true); err != nil {
			return err
		}
		h.tellBuild(ctx, b, "update", buildText(b), nil)
		return nil
	}
	// Recorded as done first: a restart must not offer or start it twice.
	if err := h.saveBuild(ctx, b, false); err != nil {
		return err
	}
	h.auditBuild(ctx, b, fmt.Sprintf("image build run %d %s", run.ID, run.Result), "ok")
	if run.Result != "succeeded" {
		h.tellBuild(ctx, b, "update", buildText(b), nil)
		return nil
	}
	img, err := h.builtImage(ctx, name, run.Version)
	if err != nil {
		h.tellBuild(ctx, b, "update", buildText(b)+sayf(" I could not read %s's image to offer it: %v", name, err), nil)
		return nil
	}
	command := fmt.Sprintf("image %s %s canary=%s", name, img.String(), b.Image.Canary)
	if b.Image.Rollout == "auto" {
		p, err := h.o.Service.Get(ctx, name)
		var r change.Rollout
		if err == nil {
			r, err = h.startRollout(ctx, change.Actor{ID: b.Requester, Name: b.RequesterName, Channel: b.Channel, Source: b.Source,
				RequestID: b.Key}, command, name, img, b.Image, p.Max, b.Channel, mentionOf(b))
		}
		if err != nil {
			h.tellBuild(ctx, b, "update", buildText(b)+sayf(" Its rollout did not start: %v", err), nil)
			return nil
		}
		h.tellBuild(ctx, b, "update", buildText(b)+sayf(" Rolling it out (canary %d); progress below.", r.Plan.Canary), nil)
		return nil
	}
	// Manual: a button that runs the rollout command, as its requester.
	args, err := Parse(strings.TrimPrefix(command, "image "))
	if err != nil {
		return err
	}
	now := h.o.Clock.Now()
	p := pending{ID: uuid.NewString(), Requester: b.Requester, RequesterName: b.RequesterName, Groups: b.Groups,
		Channel: b.Channel, Source: b.Source, Command: command, Name: "image", Args: args, Pools: []string{name},
		Created: now, Expires: now.Add(rolloutOfferTTL)}
	raw, _ := json.Marshal(p)
	if err := h.o.Store.Put(ctx, confirmKey(p.ID), string(raw)); err != nil {
		return err
	}
	text := buildText(b) + sayf(" Roll `%s` out to *%s* through a canary of %s?", img.Short(), name, b.Image.Canary)
	ok := slack.NewButtonBlockElement("confirm", p.ID, plain("Roll out")).WithStyle(slack.StylePrimary)
	cancel := slack.NewButtonBlockElement("cancel", p.ID, plain("Not now"))
	h.tellBuild(ctx, b, "update", text, []slack.Block{section(text), slack.NewActionBlock("confirm-"+p.ID, ok, cancel),
		contextBlock(sayf("Or run `/pool %s` later.", command))})
	return nil
}

// rolloutOfferTTL is how long a build's rollout button works.
const rolloutOfferTTL = 24 * time.Hour

func mentionOf(b imageBuild) string {
	if b.Source == "slack" && b.Requester != "" {
		return "<@" + b.Requester + ">"
	}
	return "@" + b.RequesterName
}

// builtImage is the pool's current gallery image at version v (its newest
// when v is empty).
func (h *Handler) builtImage(ctx context.Context, name, v string) (pool.Image, error) {
	p, err := h.o.Service.Get(ctx, name)
	if err != nil {
		return pool.Image{}, err
	}
	if p.ScaleSet == nil || p.ScaleSet.Image.ID == "" {
		return pool.Image{}, errors.New("it has no gallery image")
	}
	id := versionPart.ReplaceAllString(p.ScaleSet.Image.ID, "")
	if v != "" {
		id += "/versions/" + v
	}
	return pool.Image{ID: id}, nil
}

func (h *Handler) saveBuild(ctx context.Context, b imageBuild, active bool) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := h.o.Store.Put(ctx, buildKey(b.Pool), string(raw)); err != nil {
		return fmt.Errorf("record the image build of %s: %w", b.Pool, err)
	}
	return buildIndex.Set(ctx, h.o.Store, b.Pool, active)
}

func (h *Handler) buildIndex(ctx context.Context) ([]string, error) {
	return buildIndex.Names(ctx, h.o.Store)
}

func (h *Handler) auditBuild(ctx context.Context, b imageBuild, what, result string) {
	e := pool.AuditEntry{Time: h.o.Clock.Now(), Actor: b.Requester, ActorName: b.RequesterName, Channel: b.Channel,
		Source: b.Source, Command: "image " + b.Pool + " build", Pool: b.Pool, After: what, Result: result}
	if _, err := h.o.Store.AddAudit(ctx, e); err != nil {
		h.o.Logger.Error("image build not audited", "pool", b.Pool, "err", err)
	}
}

func (h *Handler) tellBuild(ctx context.Context, b imageBuild, op, text string, blocks []slack.Block) {
	m := pool.OutboxMessage{Channel: b.Channel, Key: b.Key, Op: op, Text: fallback(text), Created: h.o.Clock.Now()}
	if blocks != nil {
		raw, err := json.Marshal(slack.Blocks{BlockSet: blocks})
		if err == nil {
			m.Blocks = string(raw)
		}
	}
	if _, err := h.o.Store.Enqueue(ctx, m); err != nil {
		h.o.Logger.Error("image build message not queued", "pool", b.Pool, "err", err)
	}
}

// startRollout starts a rollout of img on pool name (of max agents) with
// the plan the config gives, canary as asked.
func (h *Handler) startRollout(ctx context.Context, a change.Actor, command, name string, img pool.Image, im Image,
	max int, channel, who string) (change.Rollout, error) {
	n, err := pool.ParseCanary(im.Canary, max)
	if err != nil {
		return change.Rollout{}, usagef("%v", err)
	}
	plan := change.RolloutPlan{Canary: n, Batch: im.Batch, OnlineWithin: im.OnlineWithin, Watch: im.Watch,
		MaxFailureIncrease: im.MaxFailureIncrease, MinJobs: im.MinJobs}
	return h.o.Changer.StartRollout(ctx, a, command, name, img, plan, channel, who)
}

// runRollout is `image <pool> <image|latest> canary=N|N%`.
func runRollout(ctx context.Context, c *call, name, canary string) error {
	p, err := c.h.o.Service.Get(ctx, name)
	if err != nil {
		return err
	}
	if p.ScaleSet == nil {
		return &pool.Error{Kind: pool.KindNotFound, Pool: name, Msg: name + " has no scale set I can read"}
	}
	n, err := pool.ParseCanary(canary, p.Max)
	if err != nil {
		return usagef("%v", err)
	}
	if n > p.Max {
		return usagef("canary=%s: a canary of %d agents is larger than %s's max of %d", canary, n, name, p.Max)
	}
	if r, err := c.h.o.Changer.Rollout(ctx, name); err == nil && r.Active() {
		return &pool.Error{Kind: pool.KindConflict, Pool: name,
			Msg: fmt.Sprintf("a rollout of `%s` to %s is already running (%s); `/pool image %s pause|resume|cancel`", r.Image.Short(), name, r.Phase, name)}
	}
	cur := p.ScaleSet.Image
	target, err := c.targetImage(ctx, name, cur, c.args.Pos[1])
	if err != nil {
		return err
	}
	if target == cur {
		return c.respond(ctx, say(sayf("*%s* already uses `%s`; nothing to roll out.", name, cur.Short())))
	}
	if !c.confirmed {
		return c.askConfirm(ctx, sayf("Roll out `%s` to *%s* (now `%s`)?\nA canary of %s first, watched; the rest follow in batches if it is healthy, else it is rolled back.",
			target.Short(), name, cur.Short(), plural(n, "agent")), "Roll out", true)
	}
	// Without an [[images]] entry the plan is change's defaults.
	im, _ := c.h.imageConfig(name)
	im.Canary = canary
	r, err := c.h.startRollout(ctx, c.actor, c.text, name, target, im, p.Max, c.req.ChannelID, string(c.who()))
	if err != nil {
		return err
	}
	text := sayf("%s started the rollout of `%s` to *%s*: a canary of %s first; progress in the channel.", c.who(), r.Image.Short(), name, plural(r.Plan.Canary, "agent"))
	return c.respond(ctx, Reply{Text: fallback(text), Blocks: textBlocks(text), ReplaceOriginal: true})
}

// runRolloutControl is `image <pool> pause|resume|cancel`.
func runRolloutControl(ctx context.Context, c *call, name, op string) error {
	r, err := c.h.o.Changer.ControlRollout(ctx, c.actor, c.text, name, op)
	if err != nil {
		return err
	}
	return c.respond(ctx, say(sayf("%s: %s", op, strings.TrimSpace(r.Progress()))))
}
