/**
 * Where the noise of differential privacy comes from.
 *
 * - secureGaussianNoise(): uniforms from the platform's CSPRNG (crypto.getRandomValues,
 *   in browsers and Node ≥ 19), 53-bit, turned into normals by Box–Muller in float64.
 *   The coordinator uses it: the noise must be unpredictable to the participants.
 * - seededGaussianNoise(seed): the project's seeded PRNG, for reproducible research runs
 *   only (anyone who knows the seed can subtract the noise).
 *
 * Caveat (Mironov 2012, "On significance of the least significant bits for differential
 * privacy"): textbook floating-point samplers leak through the low bits of the noised
 * value. Flock releases float32 model weights after a server step over many noised
 * coordinates, which blurs but does not provably close that channel; a discrete Gaussian
 * (Canonne, Kamath & Steinke 2020) is the fix, noted in shared/privacy/README.md.
 */
import { secureUniform } from './secure-random.ts';
import { SeededRandom } from './seeded-random.ts';

export interface GaussianNoise {
  /** Adds N(0, std²) independently to every element of `out`. */
  addTo(out: Float64Array | Float32Array, std: number): void;
  /** One N(0, std²) sample. */
  sample(std: number): number;
}

export function seededGaussianNoise(seed: number): GaussianNoise {
  const rng = new SeededRandom(seed);
  return {
    addTo(out, std) {
      for (let i = 0; i < out.length; i++) out[i] += std * rng.normal();
    },
    sample: (std) => std * rng.normal(),
  };
}

export function secureGaussianNoise(): GaussianNoise {
  const source = secureUniform();
  const uniform = () => source.next();
  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
  return {
    addTo(out, std) {
      for (let i = 0; i < out.length; i++) out[i] += std * normal();
    },
    sample: (std) => std * normal(),
  };
}
