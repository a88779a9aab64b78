# Sidekiq client side for scripts/compare: ruby sidekiq_client.rb MODE N  (REDIS_URL from env)
#   enqueue-single | enqueue-bulk | fill  → {"rate": jobs/s}
#   latency                                → {"p50_ms": ..., "p99_ms": ...}
require "json"
require_relative "sidekiq_jobs"

mode, n = ARGV[0], Integer(ARGV[1])
clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }

case mode
when "enqueue-single"
  t0 = clock.call
  n.times { NoopJob.perform_async(1) }
  puts({rate: n / (clock.call - t0)}.to_json)
when "enqueue-bulk", "fill"
  t0 = clock.call
  (0...n).each_slice(1000) { |s| Sidekiq::Client.push_bulk("class" => NoopJob, "args" => s.map { [1] }) }
  puts({rate: n / (clock.call - t0)}.to_json)
when "latency"
  Sidekiq.redis do |c|
    # One warm-up probe: the worker is up and has fetched once; then it is idle again.
    StampJob.perform_async(Time.now.to_f)
    c.blpop("lat", timeout: 60) or abort("no warm-up reply from the worker")
    sleep 0.2
    delays = n.times.map do
      StampJob.perform_async(Time.now.to_f)
      _, v = c.blpop("lat", timeout: 30)
      abort("latency probe timed out") unless v
      sleep 0.002 # idle again before the next one (as conveyor-bench does)
      Float(v)
    end.sort
    pct = ->(p) { delays[[delays.size - 1, (delays.size * p).to_i].min] }
    puts({p50_ms: pct.(0.5), p99_ms: pct.(0.99)}.to_json)
  end
else
  abort "unknown mode #{mode}"
end
