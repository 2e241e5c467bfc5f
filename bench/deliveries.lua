-- wrk script for bench/intake_vs_bare.py: POSTs signed WooCommerce deliveries, each once.
-- BENCH_DELIVERIES names a file of "signature<TAB>body" lines; thread k of n sends lines k, k+n, k+2n, ...
-- (each thread holds only its own share), wrapping around only if the run outlasts the file.
local threads = 0

function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
  thread:set("count", tonumber(os.getenv("BENCH_THREADS")))
end

function init(args)
  deliveries = {}
  local line_number = 0
  for line in io.lines(os.getenv("BENCH_DELIVERIES")) do
    if line_number % count == index then
      local signature, body = line:match("^([^\t]+)\t(.*)$")
      deliveries[#deliveries + 1] = {signature, body}
    end
    line_number = line_number + 1
  end
  next_delivery = 0
end

function request()
  local delivery = deliveries[next_delivery % #deliveries + 1]
  next_delivery = next_delivery + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-WC-Webhook-Topic"] = "order.created",
    ["X-WC-Webhook-Resource"] = "order",
    ["X-WC-Webhook-Event"] = "created",
    ["X-WC-Webhook-Signature"] = delivery[1],
  }, delivery[2])
end

