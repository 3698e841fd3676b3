-- tower-pacer: one destination's quota bands, shared through Redis.
--
-- Every time figure is in microseconds of Redis's own clock (TIME), the
-- only clock: clients never send a time, only durations, so their clocks
-- may disagree. Everything happens in one script run, so all bands are
-- checked before any is charged (all or nothing), atomically.
--
-- KEYS[1]  last granted slot (a new slot is never earlier: FIFO)
-- KEYS[2]  end of the shared pause (a 429 seen by any process)
-- KEYS[3]  next slot of the paced restart after a pause
-- KEYS[4]  the latest slot granted, kept while a grant there still counts
--          in the fenced bands (see the lost-state fence below)
-- KEYS[4+i] band i's state: 'r' GCRA theoretical arrival time (string);
--           'w' exact window: sorted set, one member per unit of cost,
--           scored by its slot; 'b' bucketed window: hash of bucket index
--           to cost, with fields 'first' (lowest bucket), 'held' (sum)
--           and 'top' (highest bucket)
--
-- ARGV[1] = 'reserve':
--   ARGV[2] cost, ARGV[3] max wait (-1: unbounded), ARGV[4] extra wait
--   (this process's own pause), ARGV[5] unique member prefix, ARGV[6]
--   restart spacing (0: no window band), ARGV[7] window guard, ARGV[8]
--   the latest slot this process was granted (0: none), ARGV[9] the
--   fenced span (0: no fence), then three per band: kind, a, b ('r': interval, burst; 'w'/'b': limit, window)
--   -> {0, wait, slot}  granted: sleep `wait`, the slot is `slot`
--      {1, wait, slot}  refused: the slot is beyond the max wait
--      {2, band, capacity}  refused: the cost exceeds a band's capacity
-- ARGV[1] = 'pause':
--   ARGV[2] pause length, ARGV[3] restart spacing, then the bands as above
--   -> {0, length, end}

local BUCKETS = 1024
local FIRST_BAND = 10

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Integers as exact decimal strings (a Lua number may print as 1.7e+15).
local function int(x)
  return string.format('%.0f', x)
end

-- A TTL in milliseconds that keeps a key until `until_us`, at least 1 ms.
local function ttl(until_us)
  local ms = math.ceil((until_us - now) / 1000)
  if ms < 1 then ms = 1 end
  return int(ms)
end

local function number(key)
  local value = redis.call('GET', key)
  if value then return tonumber(value) end
  return 0
end

local function bands(first)
  local list = {}
  local i = first
  while ARGV[i + 2] do
    list[#list + 1] = { kind = ARGV[i], a = tonumber(ARGV[i + 1]), b = tonumber(ARGV[i + 2]),
                        key = KEYS[4 + #list + 1] }
    i = i + 3
  end
  return list
end

local mode = ARGV[1]

if mode == 'pause' then
  local length = tonumber(ARGV[2])
  local spacing = tonumber(ARGV[3])
  local pause_end = now + length
  if pause_end > number(KEYS[2]) then
    redis.call('SET', KEYS[2], int(pause_end), 'PX', ttl(pause_end))
  end
  for _, band in ipairs(bands(4)) do
    if band.kind == 'r' then
      -- An empty bucket at the pause's end: callers then go one by one.
      local tat = pause_end + band.a * (band.b - 1)
      if tat > number(band.key) then
        redis.call('SET', band.key, int(tat), 'PX', ttl(tat))
      end
    end
  end
  if spacing > 0 and pause_end > number(KEYS[3]) then
    redis.call('SET', KEYS[3], int(pause_end), 'PX', ttl(pause_end))
  end
  return { 0, length, pause_end }
end

local cost = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local floor = now + tonumber(ARGV[4])
local nonce = ARGV[5]
local spacing = tonumber(ARGV[6])
local guard = tonumber(ARGV[7])
local mine = tonumber(ARGV[8])
local fenced = tonumber(ARGV[9])
local list = bands(FIRST_BAND)

local pause_end = number(KEYS[2])

-- The lost-state fence. KEYS[4] holds the latest slot granted for as long
-- as a grant there still counts, so while Redis keeps its data it is never
-- below a slot that counts. A process granted a later slot that still
-- counts proves the data gone (a restart without persistence, a failover
-- to a replica behind, an eviction): the bands forgot grants that are
-- still in their windows, some perhaps not yet sent. Every process is then
-- paused until none of them can count: the latest slot any process may
-- hold (now + max wait, the furthest a reservation goes; this process's
-- own latest when unbounded), plus the fenced span and the guard.
local seen = number(KEYS[4])
if fenced > 0 and mine > seen and mine + fenced + guard > now then
  local horizon = mine
  if max_wait >= 0 and now + max_wait > horizon then horizon = now + max_wait end
  local fence = horizon + fenced + guard
  if fence > pause_end then
    pause_end = fence
    redis.call('SET', KEYS[2], int(fence), 'PX', ttl(fence))
  end
  seen = horizon
  redis.call('SET', KEYS[4], int(seen), 'PX', ttl(seen + fenced + guard))
end
if pause_end > floor then floor = pause_end end
local slot = floor
-- The earliest slot any process can be granted. Pruning goes by this, not
-- by `floor`: this process's own pause may be unknown to the others, and
-- history pruned for it (even on a refusal) would be lost to them.
local shared_floor = math.max(now, pause_end)

-- Bucketed window: drop buckets that can no longer share a window with a
-- slot at or after `shared_floor`.
local function prune_buckets(band, width)
  local first = tonumber(redis.call('HGET', band.key, 'first') or '-1')
  if first < 0 then return end
  -- A bucket counts until its end + window + guard, as `earliest` below
  -- waits for: pruning at end + window would lose the timer guard.
  local lowest = math.floor((shared_floor - band.b - guard) / width)
  local held = tonumber(redis.call('HGET', band.key, 'held') or '0')
  while first < lowest and held > 0 do
    local field = int(first)
    held = held - tonumber(redis.call('HGET', band.key, field) or '0')
    redis.call('HDEL', band.key, field)
    first = first + 1
  end
  if held <= 0 then
    redis.call('DEL', band.key)
  else
    redis.call('HSET', band.key, 'first', int(first), 'held', int(held))
  end
end

if cost > 0 then
  local last = number(KEYS[1])
  if last > slot then slot = last end
  for i, band in ipairs(list) do
    local earliest = 0
    if band.kind == 'r' then
      if cost > band.b then return { 2, i - 1, band.b } end
      band.tat = number(band.key)
      earliest = band.tat + (cost - 1) * band.a - band.a * (band.b - 1)
    elseif band.kind == 'w' then
      if cost > band.a then return { 2, i - 1, band.a } end
      -- A grant counts until slot + window + guard (see `prune_buckets`).
      redis.call('ZREMRANGEBYSCORE', band.key, '-inf', int(shared_floor - band.b - guard))
      local excess = redis.call('ZCARD', band.key) + cost - band.a
      if excess > 0 then
        -- The grant whose leaving makes room: it must fall before the
        -- window [slot - window, slot], by a timer tick (the guard).
        local oldest = redis.call('ZRANGE', band.key, int(excess - 1), int(excess - 1), 'WITHSCORES')
        earliest = tonumber(oldest[2]) + band.b + guard
      end
    else
      if cost > band.a then return { 2, i - 1, band.a } end
      local width = math.max(1, math.ceil(band.b / BUCKETS))
      band.width = width
      prune_buckets(band, width)
      local held = tonumber(redis.call('HGET', band.key, 'held') or '0')
      local excess = held + cost - band.a
      if excess > 0 then
        -- A bucket counts whole until it has wholly left the window. Walk
        -- back from the newest bucket (none is after `slot`'s, by FIFO, or
        -- after `first`, where older slots are filed) to the one that
        -- overflows the limit: it must leave first. Walking from the newest
        -- bounds the walk by a window, however deep the backlog. 'top'
        -- covers buckets filed under another width (a changed quota); a
        -- hash written before it existed has none.
        local first = tonumber(redis.call('HGET', band.key, 'first') or '0')
        local top = tonumber(redis.call('HGET', band.key, 'top') or '0')
        local index = math.max(math.floor(slot / width), first, top)
        -- Bounded, should the hash have been damaged: a script must end.
        local stop = index - 8 * BUCKETS
        local kept = cost
        while true do
          if (index + 1) * width + band.b + guard <= slot then
            -- Buckets this old have left by `slot`: they cannot delay it.
            break
          end
          kept = kept + tonumber(redis.call('HGET', band.key, int(index)) or '0')
          -- Stopping early (limit, or a hash short of `held`) overstates
          -- the wait, as if this bucket overflowed: never an early slot.
          if kept > band.a or index <= first or index <= stop then
            earliest = (index + 1) * width + band.b + guard
            break
          end
          index = index - 1
        end
      end
    end
    if earliest > slot then slot = earliest end
  end
end

-- The paced restart after a pause: one call per sustained interval of the
-- band that binds (the shortest), for as long as callers keep up with it.
local ramp = redis.call('GET', KEYS[3])
local next_ramp = nil
if cost > 0 and ramp then
  ramp = tonumber(ramp)
  if slot <= ramp then
    slot = ramp
    next_ramp = ramp + cost * spacing
  end
end

local wait = slot - now
if max_wait >= 0 and wait > max_wait then
  return { 1, wait, slot }
end
if cost == 0 then
  return { 0, wait, slot }
end

for _, band in ipairs(list) do
  if band.kind == 'r' then
    local tat = math.max(band.tat, slot) + cost * band.a
    redis.call('SET', band.key, int(tat), 'PX', ttl(tat))
  elseif band.kind == 'w' then
    local score = int(slot)
    local k = 1
    while k <= cost do
      -- ZADD in chunks: Lua's unpack has a bounded stack.
      local args = {}
      local stop = math.min(cost, k + 999)
      for j = k, stop do
        args[#args + 1] = score
        args[#args + 1] = nonce .. ':' .. j
      end
      redis.call('ZADD', band.key, unpack(args))
      k = stop + 1
    end
    redis.call('PEXPIRE', band.key, ttl(slot + band.b + guard))
  else
    local index = math.floor(slot / band.width)
    local first = tonumber(redis.call('HGET', band.key, 'first') or '-1')
    if first < 0 then
      first = index
      redis.call('HSET', band.key, 'first', int(first))
    end
    -- A slot older than the first bucket is filed in it: held longer.
    if index < first then index = first end
    redis.call('HINCRBY', band.key, int(index), int(cost))
    local top = tonumber(redis.call('HGET', band.key, 'top') or '-1')
    if index > top then redis.call('HSET', band.key, 'top', int(index)) end
    redis.call('HINCRBY', band.key, 'held', int(cost))
    redis.call('PEXPIRE', band.key, ttl((index + 1) * band.width + band.b + guard))
  end
end
redis.call('SET', KEYS[1], int(slot), 'PX', ttl(slot))
if fenced > 0 and slot > seen then
  redis.call('SET', KEYS[4], int(slot), 'PX', ttl(slot + fenced + guard))
end
if next_ramp then
  redis.call('SET', KEYS[3], int(next_ramp), 'PX', ttl(next_ramp))
elseif ramp then
  redis.call('DEL', KEYS[3])
end
return { 0, wait, slot }
