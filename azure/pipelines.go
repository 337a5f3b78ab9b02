package azure

import (
	"context"
	"fmt"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/pipelines"

	"github.com/poolbot/poolbot/pool"
)

// RunPipeline queues a run of the Azure Pipelines definition id in project
// (an image pipeline). Errors are *pool.Error in words: an unknown
// pipeline, no permission, Azure DevOps unavailable.
func (c *Client) RunPipeline(ctx context.Context, project string, id int) (pool.PipelineRun, error) {
	t := target{op: fmt.Sprintf("run pipeline %s/%d", project, id), write: true}
	cl := &pipelines.ClientImpl{Client: *c.core}
	r, err := cl.RunPipeline(ctx, pipelines.RunPipelineArgs{Project: &project, PipelineId: &id,
		RunParameters: &pipelines.RunPipelineParameters{}})
	if err != nil {
		return pool.PipelineRun{}, translate(t, err)
	}
	return fromRun(project, id, r), nil
}

// PipelineRun reads a run of the pipeline id in project.
func (c *Client) PipelineRun(ctx context.Context, project string, id, run int) (pool.PipelineRun, error) {
	t := target{op: fmt.Sprintf("read run %d of pipeline %s/%d", run, project, id)}
	cl := &pipelines.ClientImpl{Client: *c.core}
	r, err := cl.GetRun(ctx, pipelines.GetRunArgs{Project: &project, PipelineId: &id, RunId: &run})
	if err != nil {
		return pool.PipelineRun{}, translate(t, err)
	}
	return fromRun(project, id, r), nil
}

func fromRun(project string, id int, r *pipelines.Run) pool.PipelineRun {
	out := pool.PipelineRun{Project: project, PipelineID: id}
	if r == nil {
		return out
	}
	if r.Id != nil {
		out.ID = *r.Id
	}
	if r.Name != nil {
		out.Name = *r.Name
	}
	if r.State != nil {
		out.State = string(*r.State)
	}
	if r.Result != nil {
		out.Result = string(*r.Result)
	}
	if r.CreatedDate != nil {
		out.Created = r.CreatedDate.Time
	}
	if r.FinishedDate != nil {
		out.Finished = r.FinishedDate.Time
	}
	if links, ok := r.Links.(map[string]any); ok {
		if web, ok := links["web"].(map[string]any); ok {
			out.URL, _ = web["href"].(string)
		}
	}
	if out.URL == "" && r.Url != nil {
		out.URL = *r.Url
	}
	if r.TemplateParameters != nil {
		out.Version, _ = (*r.TemplateParameters)["imageVersion"].(string)
	}
	return out
}
