// The Lua scripts that count a shared rate window in Redis (redis-rate-windows.ts). Each runs atomically,
// so every replica's requests for a key are decided one after another against one window. The window is
// rate-limit.ts's, kept as a hash of sub-bucket index → cost counted there, in Redis's clock (TIME):
// - allowed ⇒ everything counted in the sub-buckets meeting (t − windowMs, t], plus the cost, ≤ limit;
// - a sub-bucket that left the window is deleted when next seen; the hash expires a window after its
//   last count, so an idle key holds nothing.
// test/store/redis-rate-windows.test.ts checks the script against rate-limit.ts's own window.

/**
 * KEYS[1]: the key's window. ARGV: limit, windowMs, sub-bucket width (ms), cost, dry run (1/0),
 * reserve divisor (0: reserve nothing), least and most units to reserve.
 * Returns { allowed (1/0), remaining, reset in ms, retry after in ms (−1: never), reserved units,
 * reserved for ms, sub-bucket }.
 */
export const CONSUME_SCRIPT = `
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local width = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local dry = ARGV[5] == '1'
local divisor = tonumber(ARGV[6])
local minReserve = tonumber(ARGV[7])
local maxReserve = tonumber(ARGV[8])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local current = math.floor(now / width)
local lowest = math.floor((now - windowMs) / width)
local flat = redis.call('HGETALL', KEYS[1])
local buckets = {}
local counts = {}
local stale = {}
local counted = 0
for i = 1, #flat, 2 do
  local bucket = tonumber(flat[i])
  local count = tonumber(flat[i + 1])
  if bucket < lowest or count <= 0 then
    stale[#stale + 1] = flat[i]
  else
    buckets[#buckets + 1] = bucket
    counts[bucket] = count
    counted = counted + count
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
local allowed = cost <= limit and counted + cost <= limit
local reserved = 0
if allowed and not dry then
  if divisor > 0 then
    reserved = math.min(maxReserve, math.floor((limit - counted - cost) / divisor))
    if reserved < minReserve then reserved = 0 end
  end
  redis.call('HINCRBY', KEYS[1], string.format('%d', current), cost + reserved)
  redis.call('PEXPIRE', KEYS[1], windowMs + 2 * width)
end
local used = counted
if allowed then used = counted + cost end
local remaining = math.max(0, limit - used)
local reset = 0
table.sort(buckets)
if allowed then
  reset = (current + 1) * width + windowMs - now
elseif #buckets > 0 then
  reset = (buckets[#buckets] + 1) * width + windowMs - now
end
local retry = 0
if not allowed then
  if cost > limit then
    retry = -1
  else
    local needed = counted + cost - limit
    local freed = 0
    retry = reset
    for _, bucket in ipairs(buckets) do
      freed = freed + counts[bucket]
      if freed >= needed then
        retry = math.max(0, (bucket + 1) * width + windowMs - now)
        break
      end
    end
  end
end
return { allowed and 1 or 0, remaining, reset, retry, reserved, (current + 1) * width - now, current }
`;

/**
 * KEYS[1]: the key's window. ARGV: sub-bucket, units. Takes back up to `units` from that sub-bucket, never
 * more than it holds (a sub-bucket already deleted, or emptied, needs no release). Returns what it took.
 */
export const RELEASE_SCRIPT = `
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local taken = math.min(tonumber(ARGV[2]), held)
if taken > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], -taken) end
return taken
`;
