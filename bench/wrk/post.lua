-- wrk script for bench/run: POST one JSON body, check every answer, report percentiles.
--
--   wrk ... -s bench/wrk/post.lua URL -- BODY_FILE EXPECT [NAMES [TAG]]
--
-- BODY_FILE  the request body (JSON).
-- EXPECT     text every good answer's body contains (e.g. {"status":{"code":0,);
--            an answer with another HTTP status than 200, or without it, is counted bad.
-- NAMES      "fresh": BODY_FILE holds the placeholder __NAME__ and every request gets a
--            new name "bench-TAG-<thread>-<n>" (REST create must not collide with earlier
--            rows: a duplicate answers 13106, not success);
--            "pool:PREFIX:COUNT": __NAME__ becomes PREFIX followed by n mod COUNT in six
--            digits, cycling through names stored before the run (REST update).
--
-- A benchmark that measures errors is worthless, so every response is checked (string.find
-- on a few hundred bytes costs wrk far less than the server spends on the request), and
-- done() prints machine-readable lines for bench/run:
--   bench-check checked=N bad_status=N bad_body=N
--   bench-latency P:MICROSECONDS ...   (percentiles of wrk's latency histogram)
-- plus the first bad answer of each thread as "bench-check-sample: ...".
--
-- wrk builds the request once when the script defines no global request(); init()
-- defines one only for NAMES, so the fixed-body cases stay on wrk's static path.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local expect
checked, bad_status, bad_body, sample = 0, 0, 0, ""

local function read_file(path)
   local f = assert(io.open(path, "rb"))
   local text = f:read("*a")
   f:close()
   return text
end

function init(args)
   local body = read_file(args[1])
   expect = args[2]
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   if args[3] == nil or args[3] == "" then
      wrk.body = body
      return
   end
   local head, tail = body:match("^(.-)__NAME__(.*)$")
   assert(head, "NAMES given but " .. args[1] .. " has no __NAME__ placeholder")
   local n = 0
   if args[3] == "fresh" then
      local prefix = "bench-" .. (args[4] or "x") .. "-" .. id .. "-"
      request = function()
         n = n + 1
         return wrk.format(nil, nil, nil, head .. prefix .. n .. tail)
      end
      return
   end
   local prefix, count = args[3]:match("^pool:(.-):(%d+)$")
   assert(prefix, "NAMES must be fresh or pool:PREFIX:COUNT, not " .. args[3])
   count = tonumber(count)
   -- Threads (their count is unknown here) start at different places in the pool.
   n = (id - 1) * 100003
   request = function()
      n = n + 1
      return wrk.format(nil, nil, nil, head .. prefix .. string.format("%06d", n % count) .. tail)
   end
end

function response(status, headers, body)
   checked = checked + 1
   local bad = false
   if status ~= 200 then
      bad_status = bad_status + 1
      bad = true
   elseif not body or not body:find(expect, 1, true) then
      bad_body = bad_body + 1
      bad = true
   end
   if bad and sample == "" then
      sample = status .. " " .. string.sub((body or ""):gsub("%s+", " "), 1, 300)
   end
end

local PERCENTILES = {1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99,
                     99.5, 99.9, 99.95, 99.99, 100}

function done(summary, latency, requests)
   local c, s, b = 0, 0, 0
   for _, thread in ipairs(threads) do
      c = c + thread:get("checked")
      s = s + thread:get("bad_status")
      b = b + thread:get("bad_body")
      local first = thread:get("sample")
      if first ~= "" then
         io.write("bench-check-sample: ", first, "\n")
      end
   end
   io.write(string.format("bench-check checked=%d bad_status=%d bad_body=%d\n", c, s, b))
   local parts = {}
   for _, p in ipairs(PERCENTILES) do
      local us = p == 100 and latency.max or latency:percentile(p)
      table.insert(parts, string.format("%g:%d", p, us))
   end
   io.write("bench-latency ", table.concat(parts, " "), "\n")
end
