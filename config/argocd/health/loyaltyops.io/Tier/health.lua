-- Argo CD health of a loyaltyops.io object from its kstatus conditions.
-- It calls no library function (not even pairs or tostring), so it runs in
-- argocd-cm with every standard library turned off.
local hs = {}

local function condition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for i = 1, #conditions do
    if conditions[i].type == conditionType then
      return conditions[i]
    end
  end
  return nil
end

local function messageOr(c, default)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return default
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller"
  return hs
end

-- Conditions written for an older spec say nothing about the current one.
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. generation
  return hs
end

-- Stalled wins over Reconciling: only a change by the user can help.
local stalled = condition(obj.status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = messageOr(stalled, "Stalled")
  return hs
end

local reconciling = condition(obj.status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = messageOr(reconciling, "Reconciling")
  return hs
end

local ready = condition(obj.status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status == "True" then
  -- A Scheduled campaign is Healthy so that later sync waves are not held
  -- back until it starts; a paused one is Suspended, as a user chose that.
  local phase = obj.status.phase
  local nextTransition = obj.status.nextTransitionTime
  if phase == "Paused" then
    hs.status = "Suspended"
    hs.message = "Paused; set spec.paused to false to resume"
  elseif (phase == "Scheduled" or phase == "Active") and nextTransition ~= nil then
    hs.status = "Healthy"
    hs.message = phase .. "; next transition at " .. nextTransition
  elseif phase ~= nil then
    hs.status = "Healthy"
    hs.message = phase
  else
    hs.status = "Healthy"
    hs.message = messageOr(ready, "Ready")
  end
  return hs
end

-- Ready=False without Stalled is transient, e.g. ProgramNotFound while the
-- program is created in the same sync; the controller retries on its own.
hs.status = "Progressing"
hs.message = messageOr(ready, "Not ready")
return hs
