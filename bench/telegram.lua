-- wrk: POST real-shaped Telegram updates, each with a unique update_id and one of 100,000
-- chats, with the webhook secret. Each wrk thread numbers its own range.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tonumber(tid) or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = os.getenv("SECRET") or "bench-secret"
end

function request()
  counter = counter + 1
  local id = thread_id * 100000000 + counter
  local chat = 1000000 + (id % 100000)
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":%d,"date":1780000000,' ..
    '"from":{"id":%d,"is_bot":false,"first_name":"Ann_*[x]<b>&","language_code":"en"},' ..
    '"chat":{"id":%d,"first_name":"Ann","type":"private"},"text":"I\'m at N7 6AA thanks"}}',
    id, counter, chat, chat)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, " ..
    "\"p99_us\": %d, \"errors\": %d, \"non2xx\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
