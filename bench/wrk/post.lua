-- wrk script for bench/run.py: POST one JSON body and check every answer.
--
--   wrk ... -s bench/wrk/post.lua URL -- BODY_FILE EXPECT [NAME_TAG]
--
-- BODY_FILE  the request body (JSON).
-- EXPECT     text every good answer's body contains (e.g. {"status":{"code":0,);
--            an answer with another HTTP status than 200, or without it, is counted bad.
-- NAME_TAG   when given, BODY_FILE holds the placeholder __NAME__ and every request
--            gets a fresh name "bench-<NAME_TAG>-<thread>-<n>" (REST create must not
--            collide with earlier rows: a duplicate answers 13106, not success).
--
-- A benchmark that measures errors is worthless, so every response is checked (string.find
-- on a few hundred bytes costs wrk far less than the server spends on the request), and
-- done() prints one machine-readable line for run.py:
--   bench-check checked=N bad_status=N bad_body=N
-- plus the first bad answer of each thread as "bench-check-sample: ...".
--
-- wrk builds the request once when the script defines no global request(); init()
-- defines one only for NAME_TAG, so the fixed-body cases stay on wrk's static path.

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
   if args[3] == nil then
      wrk.body = body
      return
   end
   local head, tail = body:match("^(.-)__NAME__(.*)$")
   assert(head, "NAME_TAG given but " .. args[1] .. " has no __NAME__ placeholder")
   local prefix = "bench-" .. args[3] .. "-" .. id .. "-"
   local n = 0
   request = function()
      n = n + 1
      return wrk.format(nil, nil, nil, head .. prefix .. n .. tail)
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
end
