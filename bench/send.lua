-- wrk script: POST /api/sms/send, each request to another number (no per-number cache can help).
-- wrk -t1 -c50 -d10s -s bench/send.lua http://127.0.0.1:8000
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local number = 2000000 + (n * 7919) % 7999999
  return wrk.format(nil, "/api/sms/send", nil,
    '{"to":[{"number":"+1415' .. number .. '"}],"message":"Your order #1234 has shipped and will arrive tomorrow.","sms_type":"transactional"}')
end
