-- wrk script: POSTs a 10-line invoice with a unique order id per request.
-- Environment: BENCH_API_KEY (the merchant's API key), BENCH_PATH (default /v1/invoices).
local counter = 0
local thread_tag = ""
local body_template = nil
local path = os.getenv("BENCH_PATH") or "/v1/invoices"
local api_key = os.getenv("BENCH_API_KEY") or ""

function setup(thread)
  counter = counter + 1
  thread:set("tag", tostring(counter) .. "-" .. tostring(math.random(1, 1000000000)))
end

function init(args)
  thread_tag = tag
  local file = io.open(os.getenv("BENCH_BODY") or "crates/core/benches/fixtures/ten_lines.json", "r")
  body_template = file:read("*a")
  file:close()
end

local sent = 0
function request()
  sent = sent + 1
  local order = "WRK-" .. thread_tag .. "-" .. sent
  local body = body_template:gsub('"BENCH%-10023"', '"' .. order .. '"')
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. api_key,
  }, body)
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p99 %.2f ms  requests %d  errors(non-2xx+socket) %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
