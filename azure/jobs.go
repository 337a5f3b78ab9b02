package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"

	"github.com/poolbot/poolbot/pool"
)

// jobsTop is what a history read asks for per call: Azure DevOps answers at
// most 200 job requests whatever $top says.
const jobsTop = 200

// JobHistory reads the pool's job requests newest first, one call per page
// of at most 200, following X-MS-ContinuationToken, from q.Token (or the
// newest) until the first request queued before q.Since or q.MaxCalls
// calls. The route has no function in the Go SDK, so it goes through the
// SDK's core client by location id, as the queue does.
func (c *Client) JobHistory(ctx context.Context, name string, q pool.JobQuery) (pool.JobPage, error) {
	t := target{op: "read job history", pool: name}
	id, err := c.poolID(ctx, name)
	if err != nil {
		return pool.JobPage{}, translate(t, err)
	}
	var page pool.JobPage
	token := q.Token
	for {
		if q.MaxCalls > 0 && page.Calls >= q.MaxCalls {
			page.Token = token
			return page, nil
		}
		reqs, next, err := c.jobRequests(ctx, id, token)
		if err != nil {
			// What was read stands; the caller can go on from token.
			page.Token = token
			if token == "" && page.Calls == 0 {
				page.Token = ""
			}
			return page, translate(t, c.notFoundAs(err, name))
		}
		page.Calls++
		done := false
		for _, r := range reqs {
			j := jobOf(name, r)
			if !q.Since.IsZero() && j.Queued.Before(q.Since) {
				done = true
				break
			}
			if j.Queued.After(page.Newest) {
				page.Newest = j.Queued
			}
			if j.Finished.IsZero() {
				page.Open = append(page.Open, j)
			} else {
				page.Jobs = append(page.Jobs, j)
			}
		}
		if done || next == "" || len(reqs) == 0 {
			return page, nil
		}
		if next == token {
			return page, translate(t, fmt.Errorf("job requests: the continuation token %q came back unchanged", next))
		}
		token = next
	}
}

// jobRequests reads one page of a pool's job requests and the token of the
// next, empty after the last.
func (c *Client) jobRequests(ctx context.Context, id int, token string) ([]taskagent.TaskAgentJobRequest, string, error) {
	q := url.Values{"$top": {strconv.Itoa(jobsTop)}}
	if token != "" {
		q.Set("continuationToken", token)
	}
	resp, err := c.core.Send(ctx, http.MethodGet, jobRequestsLocation, apiVersion,
		map[string]string{"poolId": strconv.Itoa(id)}, q, nil, "", azuredevops.MediaTypeApplicationJson, nil)
	if err != nil {
		return nil, "", err
	}
	next := resp.Header.Get(azuredevops.HeaderKeyContinuationToken)
	var reqs []taskagent.TaskAgentJobRequest
	if err := c.core.UnmarshalCollectionBody(resp, &reqs); err != nil {
		return nil, "", fmt.Errorf("read job requests of pool %d: %w", id, err)
	}
	// Newest first, as the service lists them; sorted again so that a
	// page in another order cannot stop a read early.
	sort.SliceStable(reqs, func(a, b int) bool { return deref(reqs[a].RequestId) > deref(reqs[b].RequestId) })
	return reqs, next, nil
}

func jobOf(poolName string, r taskagent.TaskAgentJobRequest) pool.Job {
	j := pool.Job{
		Pool:      poolName,
		RequestID: deref(r.RequestId),
		Queued:    timeOf(r.QueueTime),
		Assigned:  timeOf(r.AssignTime),
		Started:   timeOf(r.ReceiveTime),
		Finished:  timeOf(r.FinishTime),
	}
	if r.Result != nil {
		j.Result = string(*r.Result)
	}
	if r.ReservedAgent != nil {
		j.Agent = deref(r.ReservedAgent.Name)
	}
	if r.Definition != nil {
		j.Definition = deref(r.Definition.Name)
	}
	if r.Demands != nil {
		for _, d := range *r.Demands {
			j.Demands = append(j.Demands, demandText(d))
		}
	}
	return j
}

// demandText renders a demand: Azure DevOps writes each as a string such as
// "Agent.OS -equals Linux"; an object form is rendered name and value.
func demandText(d any) string {
	switch v := d.(type) {
	case string:
		return v
	case map[string]any:
		name, _ := v["name"].(string)
		if val, ok := v["value"].(string); ok && val != "" {
			return name + " -equals " + val
		}
		return name
	}
	return strings.TrimSpace(fmt.Sprint(d))
}
