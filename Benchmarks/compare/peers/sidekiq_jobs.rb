# Sidekiq jobs for scripts/compare (REDIS_URL from the environment).
require "sidekiq"

# Debian's Sidekiq 6.4.1 with redis-rb 4.8 prints a deprecation warning on every fetch and
# push; its users on that pairing silence them like this, so the peer is measured as they run it.
if defined?(Redis)
  Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
  Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
end

Sidekiq.configure_server do |config|
  # Per-job "start"/"done" lines at INFO would cost throughput; the Python peers log at WARNING too.
  config.logger.level = Logger::WARN
end

# The benchmark job: return the argument (Sidekiq keeps no results).
class NoopJob
  include Sidekiq::Job
  def perform(x)
    x
  end
end

# Latency probe: push start - sent (ms) to the `lat` list, which the sender BLPOPs.
class StampJob
  include Sidekiq::Job
  def perform(sent)
    started = Time.now.to_f
    Sidekiq.redis { |c| c.rpush("lat", (started - sent) * 1000.0) }
    sent
  end
end
