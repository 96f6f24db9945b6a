-- wrk script for scripts/bench-edge.sh: POSTs the JSON in BENCH_BODY to BENCH_PATH, with a
-- unique order id per request (the text BENCH_ORDER_ID in the body is replaced), the same for
-- every target (the JS peer ignores the order id, our worker keys idempotency on it).
-- Environment: BENCH_BODY (file), BENCH_PATH (default /v1/invoices), BENCH_API_KEY (optional:
-- sent as Authorization: Bearer), BENCH_METHOD (POST, or GET: no body, for the context runs),
-- BENCH_ACCEPT_ENCODING (optional: sent as Accept-Encoding, e.g. gzip; wrk sends none by default).
-- done() prints one machine-readable line, in the format of the peer's bench-edge.lua:
--   BENCH_RESULT requests= duration_us= rps= p50_us= p99_us= non2xx= sockerr=
-- and, when a response was not 2xx, one BENCH_FIRST_ERROR line with its status and body start.
local path = os.getenv("BENCH_PATH") or "/v1/invoices"
local api_key = os.getenv("BENCH_API_KEY") or ""
local method = os.getenv("BENCH_METHOD") or "POST"
local accept_encoding = os.getenv("BENCH_ACCEPT_ENCODING") or ""
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tag", tostring(counter) .. "-" .. tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000)))
  table.insert(threads, thread)
end

local body_template = nil
local headers = nil
local sent = 0
first_error = nil

function init(args)
  headers = {}
  if api_key ~= "" then headers["Authorization"] = "Bearer " .. api_key end
  if accept_encoding ~= "" then headers["Accept-Encoding"] = accept_encoding end
  if method == "GET" then return end
  headers["Content-Type"] = "application/json"
  local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
  body_template = file:read("*a")
  file:close()
end

function request()
  sent = sent + 1
  if method == "GET" then return wrk.format("GET", path, headers) end
  local body = body_template:gsub("BENCH_ORDER_ID", "WRK-" .. tag .. "-" .. sent, 1)
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  if (status < 200 or status > 299) and first_error == nil then
    first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300):gsub("\n", " ")
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d sockerr=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
  for _, thread in ipairs(threads) do
    local found = thread:get("first_error")
    if found ~= nil then
      io.write("BENCH_FIRST_ERROR " .. found .. "\n")
      break
    end
  end
end
