-- Argo CD health of fmesh's Function, Source, Sink and FunctionMesh (compute.functionmesh.io),
-- from the conditions the operator writes: Ready, Progressing, Degraded (each True/False with a
-- reason and message) and status.observedGeneration.
local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" and c.message ~= c.reason then
    return c.reason .. ": " .. c.message
  end
  return c.reason or c.type
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the fmesh operator to report status"
  return hs
end

local ready = condition(status.conditions, "Ready")
local degraded = condition(status.conditions, "Degraded")
local progressing = condition(status.conditions, "Progressing")

-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata and obj.metadata.generation
local observed = status.observedGeneration
if observed == nil and ready ~= nil then
  observed = ready.observedGeneration
end
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the fmesh operator to observe generation " .. tostring(generation)
    .. " (status is of " .. tostring(observed or "none") .. ")"
  return hs
end

-- InvalidSpec (Ready=False, Degraded=True) and failed child writes land here.
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded)
  return hs
end
if ready ~= nil and ready.reason == "InvalidSpec" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

if ready ~= nil and ready.status == "True" then
  local spec = obj.spec or {}
  if spec.replicas == 0 then
    hs.status = "Suspended"
    hs.message = "Scaled to zero replicas"
    return hs
  end
  hs.status = "Healthy"
  hs.message = ready.message or ready.reason
  return hs
end

hs.status = "Progressing"
if progressing ~= nil and progressing.status == "True" then
  hs.message = describe(progressing)
elseif ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
