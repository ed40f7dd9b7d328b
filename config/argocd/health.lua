-- Argo CD health check for securesite.io/SecureSite.
-- Argo CD runs custom checks without the string library (only base, table, package and a safe
-- os), so this script uses nothing else. Reasons match api/v1alpha1/conditions.go.
local hs = {}

-- Only the user can clear these: waiting will not help, so Argo CD should show them as Degraded.
local userMustAct = {
  RecordConflict = true,
  SecretConflict = true,
  BucketOwnedElsewhere = true,
  InvalidSpec = true,
}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- A condition written for an older generation says nothing about the spec Argo CD just synced
-- (e.g. a conflict the user has fixed): treat it as not yet observed.
local function current(c, generation)
  if c == nil then
    return false
  end
  if c.observedGeneration == nil or generation == nil then
    return true
  end
  return c.observedGeneration >= generation
end

local function messageOf(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil then
    return c.reason
  end
  return ""
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: the controller observes but changes nothing in AWS"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for controller"
  return hs
end

local conditions = obj.status.conditions

local stalled = findCondition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" and current(stalled, generation) then
  hs.status = "Degraded"
  hs.message = messageOf(stalled)
  return hs
end

local ready = findCondition(conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for controller"
  return hs
end

if ready.status == "True" then
  if generation ~= nil and obj.status.observedGeneration == generation then
    hs.status = "Healthy"
    hs.message = messageOf(ready)
    return hs
  end
  hs.status = "Progressing"
  hs.message = "Waiting for controller to reconcile the latest spec"
  return hs
end

if ready.status == "False" and userMustAct[ready.reason] and current(ready, generation) then
  hs.status = "Degraded"
  hs.message = messageOf(ready)
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready)
return hs
