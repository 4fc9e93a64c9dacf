/**
 * Uniform numbers from the platform's CSPRNG (crypto.getRandomValues, in browsers and
 * Node ≥ 19), for what must be unpredictable to participants and to anyone who knows
 * the coordinator's --seed: differential privacy's noise and, under DP, who is sampled
 * (amplification by sampling assumes the sample is secret).
 */

const CHUNK = 8192; // getRandomValues refuses more than 65,536 bytes per call

export interface UniformSource {
  /** Uniform in (0, 1] with 53 random bits (never 0, so log() is finite). */
  next(): number;
}

export function secureUniform(): UniformSource {
  const words = new Uint32Array(CHUNK);
  let pos = CHUNK;
  return {
    next() {
      if (pos + 2 > CHUNK) {
        globalThis.crypto.getRandomValues(words);
        pos = 0;
      }
      const hi = words[pos++] >>> 5; // 27 bits
      const lo = words[pos++] >>> 6; // 26 bits
      return (hi * 67108864 + lo + 1) / 9007199254740992;
    },
  };
}
