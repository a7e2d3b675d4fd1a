-- TAKE: pop the first message of KEYS (in kombu's order) and hold it in the same step.
-- Loaded once per process and called by SHA (workers/broker/take.py).
--
-- KEYS: the queue keys in the order to try; ARGV: unacked hash, unacked index, now, the
-- "taking" hash and its index, and a fresh tag for this call.
-- Returns false, or {key, message, held}: held is the delivery tag when the message went
-- into the unacked set. A message that cannot go there (not JSON, no delivery tag or
-- delivery info: poison the worker will set aside) is kept in the taking hash under the
-- call's tag instead, as "<queue key>\n<message>", until the worker has set it aside;
-- held is then "taking:<tag>". The message is written as kombu writes it
-- ([message, exchange, routing key]) without re-encoding it.
for _, key in ipairs(KEYS) do
  local item = redis.call('RPOP', key)
  if item then
    local ok, msg = pcall(cjson.decode, item)
    local props = ok and type(msg) == 'table' and msg['properties']
    local tag = type(props) == 'table' and props['delivery_tag']
    local info = type(props) == 'table' and props['delivery_info']
    if type(tag) == 'string' and type(info) == 'table'
        and type(info['exchange']) == 'string' and type(info['routing_key']) == 'string' then
      local held = '[' .. item .. ',' .. cjson.encode(info['exchange']) .. ','
                   .. cjson.encode(info['routing_key']) .. ']'
      redis.call('ZADD', ARGV[2], ARGV[3], tag)
      redis.call('HSET', ARGV[1], tag, held)
      return {key, item, tag}
    end
    redis.call('ZADD', ARGV[5], ARGV[3], ARGV[6])
    redis.call('HSET', ARGV[4], ARGV[6], key .. '\n' .. item)
    return {key, item, 'taking:' .. ARGV[6]}
  end
end
return false
