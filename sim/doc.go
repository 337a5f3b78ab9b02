// Package sim simulates an Azure DevOps organization with scale-set
// ("elastic") agent pools and the Azure subscription behind them, closely
// enough that the real SDK clients (azure-devops-go-api v7 elastic and
// taskagent, armcompute v7, armcostmanagement) talk to it unchanged. One
// http.Handler serves:
//
//   - Azure DevOps at /{org}/…: OPTIONS /{org}/_apis (resource-location
//     discovery), _apis/distributedtask/elasticpools (list, get, create with
//     ?poolName=, PATCH settings), …/elasticpools/{id}/nodes (list with
//     $state, PATCH a node to pendingReimage, pendingDelete or saved),
//     …/elasticpools/{id}/logs ($top, newest first), _apis/distributedtask/pools
//     (with ?poolName=), …/pools/{id}/agents (includeAssignedRequest) and
//     …/pools/{id}/jobrequests (location fc825784-c92a-4299-9221-998a02d1b54f:
//     queued requests first, oldest first, then running ones, then the last
//     completedRequestCount finished ones; with $top or continuationToken,
//     every request, queued, running and finished, newest first, at most 200
//     an answer, X-MS-ContinuationToken naming the next page). A queued request has no
//     assignTime and no reservedAgent. Besides the elastic pools (ids from 10;
//     the agent pool has the same id and name) the organization has the
//     agent pools "Default" (1) and "Azure Pipelines" (9, hosted).
//   - Azure Resource Manager at /subscriptions/{sub}/resourceGroups/{rg}/
//     providers/Microsoft.Compute/…: virtualMachineScaleSets (list, GET, PUT,
//     PATCH, POST reimage/delete with instanceIds), …/virtualMachines (list,
//     paged by 50 with nextLink; GET; DELETE; POST reimage), galleries/{g}/
//     images/{i} and …/versions. PUT, PATCH, DELETE and POST are long-running
//     operations: 201/200/202 with Azure-AsyncOperation (and Location for
//     POST/DELETE) pointing at …/locations/{region}/operations/{id}, which
//     answers "Succeeded" at the first poll (the change is applied when the
//     request arrives). Any api-version is accepted.
//   - Cost Management at POST {scope}/providers/Microsoft.CostManagement/query
//     and the Retail Prices API at GET /api/retail/prices (see cost.go).
//
// # Authentication
//
// Azure DevOps accepts any PAT (Basic, any user) or bearer token except
// RejectedPAT, and answers that (or no credential) with an empty 401 and
// WWW-Authenticate challenges, which the SDK turns into a WrappedError with
// StatusCode 401. ARM and Cost Management accept any non-empty bearer token
// and answer 401 AuthenticationFailed without one. The prices API needs none.
//
// # Faults
//
// Faults (SetFaults, Options.Faults) apply to Azure DevOps and ARM requests
// after authentication, in this order: added latency (wall clock), a dropped
// connection (the handler panics with http.ErrAbortHandler, so it must run
// under an http.Server), 429 with Retry-After in whole seconds (and
// Retry-After-Ms when under a second; Azure DevOps adds X-RateLimit-Resource,
// -Delay, -Limit, -Remaining and -Reset), then a 5xx (503 for Azure DevOps,
// 500 for ARM).
//
// # Calls
//
// Calls counts requests by route name — ado.options, ado.resourceareas,
// ado.elasticpools.{list,get,create,update}, ado.nodes.{list,update},
// ado.logs, ado.pools.{list,get}, ado.agents.{list,get}, ado.jobrequests,
// arm.vmss.{list,get,put,patch,reimage,deleteinstances}, arm.vms.list,
// arm.vm.{get,delete,reimage}, arm.operation, arm.gallery.{image,versions,
// version}, cost.query, prices — by authentication kind (auth:pat,
// auth:bearer, auth:none, auth:rejected) and by injected fault (fault:429,
// fault:5xx, fault:drop).
//
// # Time and behaviour
//
// Time is simulated: Advance runs the model at every whole simulated minute
// and wakes After waiters in order; Run advances with the wall clock at a
// speed. Each run of the model covers the minute since the previous one,
// and what happens within it keeps its own instant, so that waits and state
// durations are not rounded to whole minutes. Per pool: running jobs that
// are due finish at the instant their duration ends (the agent goes idle
// then, or is reimaged when recycleAfterEachUse is set); nodes walk
// new (1 min) → creatingCompute (2 min) → startingAgent (2 min) → idle,
// each state ending exactly its duration after it began;
// reimagingCompute (3 min) → startingAgent; deletingCompute (2 min) → gone;
// jobs arrive (trace's arrival model: a Poisson process seeded by
// Options.Seed; the peak rate is PoolSpec.JobsPerHour, default 2.4×max,
// negative for none; or, after Replay, a trace's jobs at their recorded
// instants and durations, repeating by whole weeks), each at a
// random instant within the minute (drawn apart from the load, so the jobs
// and their durations do not depend on it), at full rate on weekdays
// 08:00–18:00 Europe/Paris, 30% at 07:00 and 18:00–20:00, 4% at night and
// 3% at weekends; Nightly pools get their jobs 00:00–05:00 every day and 5%
// otherwise. A job runs 5–25 minutes (nightly 30–60) and waits until an
// agent is idle: jobs, oldest first, start at the later of their arrival
// and the instant an agent became idle, taking the agent that lets them
// start first. Each wait is recorded (Stats.JobWaits) to the nanosecond;
// after 6 hours waiting a job is canceled. A job shows in jobrequests from
// the end of the minute it arrived in. Every 5 simulated minutes (on
// minutes divisible by 5) the service samples each pool: when idle plus
// starting agents fall short of standby plus waiting jobs it adds VMs, at
// most 25% of max (at least 1) at a time and never beyond max, logging the
// sizing (info, increaseCapacity); so a job that finds no idle agent waits
// for the next sample and 5 more minutes for a new VM, unless a busy agent
// frees up first. When no job waits and idle agents exceed standby it
// deletes the surplus that has been idle for timeToLiveMinutes, oldest idle
// first (info, deleteVMs); when max was lowered below the VM count, idle
// VMs above it go at once. It never deletes a busy agent: a node set to
// pendingDelete while busy shows assignedPendingDelete and goes when its
// job ends. Failed nodes are deleted 5 minutes after failing.
//
// # Failures
//
// SetFailure switches a pool's failure modes. Extension: a new VM's agent
// extension fails, the node goes failedVMPendingDelete (computeState failed)
// with an error log "Failed to provision VM …: the VM extension … failed …".
// NeverOnline: the agent stays in startingAgent and after 10 minutes the node
// goes failedToStartPendingDelete with an error log. Quota: scale-out beyond
// QuotaVMs VMs fails with an error log "Failed to increase capacity.
// Operation could not be completed as it results in exceeding approved …
// Cores quota …" (operation increaseCapacity) and sizingAttempts 1. A pool
// with failures in a sample is "unhealthy" until a sample without. The
// seeded gpu-nightly fails by default: Extension, and Quota with QuotaVMs 1,
// with nightly jobs, so failed nodes and both kinds of error logs appear
// from the first simulated minutes (the simulator starts at midnight).
//
// # Scale sets and images
//
// A scale set's capacity is its VM count, which follows the pool's nodes.
// Changing the scale set's image (PUT or PATCH of
// virtualMachineProfile.storageProfile.imageReference) changes only VMs
// created or reimaged afterwards; each VM reports its image in
// storageProfile.imageReference (id with the version, and exactVersion) and
// latestModelApplied. A gallery image id without a version, or version
// "latest", resolves to the newest version when a VM is created. The gallery
// poolbotgallery holds ubuntu22 1.0.0, 1.1.0, 1.2.0 and win2022 1.0.0,
// 1.1.0; seeded pools start on 1.1.0. An id naming a missing gallery image
// or version is a 404 GalleryImageNotFound.
//
// Creating a pool (POST elasticpools?poolName=) links a scale set made by an
// ARM PUT. It must meet Azure DevOps' requirements (Uniform orchestration,
// overprovision false, upgrade policy Manual, singlePlacementGroup false,
// platformFaultDomainCount 1, no load balancer), be unused by another pool,
// and desiredIdle must not exceed maxCapacity; otherwise a 400 says why.
//
// # Cost
//
// Each VM (any state after new) accrues its SKU's hourly retail price per
// simulated minute; Stats counts idle, busy and other VM-hours per pool by
// each VM's state at the end of every minute.
package sim
