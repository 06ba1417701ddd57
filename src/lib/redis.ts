import { Redis, type RedisOptions } from 'ioredis';

/**
 * BullMQ's production advice: producers (the API) fail fast when Redis is away so an API write
 * never hangs; workers wait for Redis forever (maxRetriesPerRequest: null).
 */
export function createRedis(url: string, role: 'producer' | 'worker'): Redis {
  const options: RedisOptions =
    role === 'producer'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: false }
      : { maxRetriesPerRequest: null, enableReadyCheck: false };
  const redis = new Redis(url, {
    ...options,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors are reported by readyz and by the calls that need Redis; do not crash.
  redis.on('error', () => {});
  return redis;
}

export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<boolean> {
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  }
}
