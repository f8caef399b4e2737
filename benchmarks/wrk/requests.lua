-- wrk script of `ebmm bench load`: each request is one of a list of pre-encoded requests, chosen at random.
--
--   EBMM_WRK_REQUESTS=requests.tsv EBMM_WRK_AUTHORIZATION="Bearer <key>" wrk -s requests.lua http://127.0.0.1:8000
--
-- Each line of EBMM_WRK_REQUESTS is `METHOD<TAB>PATH<TAB>BODY` (BODY may be empty). Line k is sent with
-- `X-Request-Id: wrk-<k>`, so the server's access log names which pre-encoded request it served. done() prints
-- one line `EBMM_WRK {json}`: requests, duration, errors and latency percentiles (microseconds) of all threads.

local requests = {}
local next_thread_id = 0

function setup(thread)
   next_thread_id = next_thread_id + 1
   thread:set("thread_id", next_thread_id)
end

function init(args)
   local authorization = os.getenv("EBMM_WRK_AUTHORIZATION")
   local k = 0
   for line in io.lines(os.getenv("EBMM_WRK_REQUESTS")) do
      local method, path, body = line:match("^(%u+)\t([^\t]+)\t(.*)$")
      k = k + 1
      local headers = { ["X-Request-Id"] = "wrk-" .. k }
      if authorization ~= nil and authorization ~= "" then
         headers["Authorization"] = authorization
      end
      if body ~= "" then
         headers["Content-Type"] = "application/json"
      end
      requests[k] = wrk.format(method, path, headers, body)
   end
   -- a fixed seed per thread: the same mix in every run
   math.randomseed(thread_id or 1)
end

function request()
   return requests[math.random(#requests)]
end

function done(summary, latency, _)
   local errors = summary.errors
   io.write(string.format(
      'EBMM_WRK {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
         .. '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write,
      errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
   ))
end
