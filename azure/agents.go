package azure

import (
	"context"
	"fmt"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"

	"github.com/poolbot/poolbot/pool"
)

// agentVersions returns the version each agent of the pool reports, by
// agent id: an agent on an image with an older agent baked in reports it
// until it has updated itself.
func (c *Client) agentVersions(ctx context.Context, poolID int) (map[int]string, error) {
	agents, err := c.agents.GetAgents(ctx, taskagent.GetAgentsArgs{PoolId: &poolID})
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	if agents == nil {
		return out, nil
	}
	for _, a := range *agents {
		if a.Id != nil && a.Version != nil {
			out[*a.Id] = *a.Version
		}
	}
	return out, nil
}

// withNodeDetails fills each node's image (by instance id) and agent
// version (by agent id), where known.
func withNodeDetails(nodes []pool.Node, images map[string]pool.Image, versions map[int]string) {
	for i, n := range nodes {
		nodes[i].Image = images[n.ComputeID]
		if n.AgentID != 0 {
			nodes[i].AgentVersion = versions[n.AgentID]
		}
	}
}

// ImagePublished returns when a compute gallery image version was
// published (its publishing profile's date). Errors: *pool.Error of
// KindNotFound for an image that is not a gallery image version (a
// marketplace image, a gallery image without its version), or ARM's
// failure in words.
func (c *Client) ImagePublished(ctx context.Context, img pool.Image) (time.Time, error) {
	t := target{op: "read image version"}
	m := galleryImageRE.FindStringSubmatch(img.ID)
	if m == nil || m[5] == "" {
		return time.Time{}, &pool.Error{Kind: pool.KindNotFound, Msg: fmt.Sprintf("%s is not a compute gallery image version", img.Short())}
	}
	cl, err := c.imageVersionsClient(m[1])
	if err != nil {
		return time.Time{}, err
	}
	v, err := cl.Get(ctx, m[2], m[3], m[4], m[5], nil)
	if err != nil {
		return time.Time{}, translate(t, err)
	}
	if v.Properties == nil || v.Properties.PublishingProfile == nil || v.Properties.PublishingProfile.PublishedDate == nil {
		return time.Time{}, &pool.Error{Kind: pool.KindNotFound, Msg: fmt.Sprintf("%s has no publishing date", img.Short())}
	}
	return *v.Properties.PublishingProfile.PublishedDate, nil
}
