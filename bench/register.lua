-- wrk script: each request registers a new schema (a record with a field no earlier request used).
local counter = 0
function setup(thread)
  thread:set("prefix", tostring(math.random(1, 1000000000)))
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"schema":"{\\"type\\":\\"record\\",\\"name\\":\\"Load\\",\\"fields\\":[{\\"name\\":\\"f%s_%d\\",\\"type\\":\\"int\\"}]}"}',
    prefix, counter)
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, body)
end
