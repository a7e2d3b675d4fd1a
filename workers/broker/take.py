"""Taking a message off its queue and into the unacked set in one step, on the server.

Kombu's Redis transport takes a message with ``BRPOP`` and only then, from the worker,
writes it to the unacked set that the visibility timeout restores from. A worker killed,
or a connection broken, between the two loses the message: it is on no queue and in no
set. The fleet soak lost tasks this way when it SIGKILLed a worker (1 run in 5 at
1 500 tasks) and around a Redis restart.

Here the worker does not pop queues with ``BRPOP``. Producers ring a *bell* with each
message (``LPUSH <queue>:bell``, in the same round trip as the message); the worker
blocks on the bells of its queues (``BRPOP``, losing a bell costs nothing), and then runs
:data:`TAKE` — a Lua script that pops the first message of its queues, in kombu's order,
and writes it to the unacked set (``unacked`` hash and ``unacked_index``, as kombu would)
before it replies. From then on the message is either on its queue or in the unacked
set, whatever happens to the worker. A message put on a queue without a bell (kombu's
restore of unacked messages, a replayed dead letter, an older producer) is taken when
the worker's ``BRPOP`` times out (``brpop_timeout``, 1 s) and it looks anyway.
"""

from __future__ import annotations

BELL_SUFFIX = "bell"
BELL_MAX = 10_000  # bells beyond this add nothing: a worker that wakes takes what is there

# KEYS: the queue keys in the order to try; ARGV: unacked hash, unacked index, now.
# Returns false, or {key, message, held}: held is the delivery tag when the message
# went into the unacked set, "" when it could not (not JSON, or no delivery tag /
# delivery info: the worker sets such a message aside). The message is written to the
# hash as kombu writes it ([message, exchange, routing key]) without re-encoding it.
TAKE = """
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
    return {key, item, ''}
  end
end
return false
"""


def bell(queue: str, sep: str) -> str:
    """The bell key of ``queue`` (a list of tokens; only its length matters)."""
    return f"{queue}{sep}{BELL_SUFFIX}"
