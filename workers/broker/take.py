"""Taking a message off its queue and into the unacked set in one step, on the server.

Kombu's Redis transport takes a message with ``BRPOP`` and only then, from the worker,
writes it to the unacked set that the visibility timeout restores from. A worker killed,
or a connection broken, between the two loses the message: it is on no queue and in no
set. The fleet soak lost tasks this way when it SIGKILLed a worker (1 run in 5 at
1 500 tasks) and around a Redis restart.

Here the worker does not pop queues with ``BRPOP``. It takes messages with :data:`TAKE`,
a Lua script that pops the first message of its queues, in kombu's order, and writes it
to the unacked set (``unacked`` hash and ``unacked_index``, as kombu would) before it
replies: from then on the message is either on its queue or in the unacked set, whatever
happens to the worker. While TAKE finds messages the worker takes again at once; when it
finds none, the worker waits on its queues' *bells* (``BRPOP`` on ``<queue>:bell``; a bell
lost costs nothing), which producers ring with each message in the same round trip, and
takes again when one rings or after ``brpop_timeout`` (1 s) — so a message put on a queue
without a bell (kombu's restore of unacked messages, a replayed dead letter, an older
producer) waits at most that long on an idle worker.
"""

from __future__ import annotations

BELL_SUFFIX = "bell"
BELL_MAX = 10_000  # bells beyond this add nothing: a worker that wakes takes what is there

# KEYS: the queue keys in the order to try; ARGV: unacked hash, unacked index, now, the
# "taking" hash and its index, and a fresh tag for this call.
# Returns false, or {key, message, held}: held is the delivery tag when the message went
# into the unacked set. A message that cannot go there (not JSON, no delivery tag or
# delivery info: poison the worker will set aside) is kept in the taking hash under the
# call's tag instead, as "<queue key>\n<message>", until the worker has set it aside;
# held is then "taking:<tag>". The message is written as kombu writes it
# ([message, exchange, routing key]) without re-encoding it.
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
    redis.call('ZADD', ARGV[5], ARGV[3], ARGV[6])
    redis.call('HSET', ARGV[4], ARGV[6], key .. '\\n' .. item)
    return {key, item, 'taking:' .. ARGV[6]}
  end
end
return false
"""

TAKING = "agentq:messages:taking"  # poison taken and not yet set aside: tag -> key\nmessage
TAKING_INDEX = "agentq:messages:taking:index"  # tag -> when it was taken
TAKING_PREFIX = "taking:"


def bell(queue: str, sep: str) -> str:
    """The bell key of ``queue`` (a list of tokens; only its length matters)."""
    return f"{queue}{sep}{BELL_SUFFIX}"
