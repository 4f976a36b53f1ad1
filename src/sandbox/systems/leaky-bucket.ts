/**
 * Shopify's leaky bucket, as the sandbox's store throttles its Admin API with it: each request adds one,
 * the bucket leaks at a steady rate, and a request that would overflow it is refused
 * (https://shopify.dev/docs/api/usage/limits#the-leaky-bucket-algorithm). One bucket per key (access token).
 */
export class LeakyBucket {
  readonly #levels = new Map<string, { level: number; at: number }>();

  constructor(
    readonly size: number,
    readonly leakRatePerSecond: number,
  ) {}

  take(key: string, now: number): { admitted: boolean; used: number } {
    const previous = this.#levels.get(key) ?? { level: 0, at: now };
    const level = Math.max(0, previous.level - ((now - previous.at) / 1000) * this.leakRatePerSecond);
    if (level + 1 > this.size) {
      this.#levels.set(key, { level, at: now });
      return { admitted: false, used: Math.min(this.size, Math.ceil(level)) };
    }
    this.#levels.set(key, { level: level + 1, at: now });
    return { admitted: true, used: Math.ceil(level + 1) };
  }
}
