/**
 * P(X < k) for X ~ Hypergeometric(population, successes, draws): the chance that a
 * round selecting `draws` of `population` participants, `successes` of whom answer,
 * gets fewer than `k` answers (so it cannot close at its target).
 */
export function hypergeometricBelow(population: number, successes: number, draws: number, k: number): number {
  const logFact = new Float64Array(population + 1);
  for (let i = 2; i <= population; i++) logFact[i] = logFact[i - 1] + Math.log(i);
  const logChoose = (n: number, r: number) => (r < 0 || r > n ? -Infinity : logFact[n] - logFact[r] - logFact[n - r]);
  const total = logChoose(population, draws);
  let p = 0;
  for (let x = Math.max(0, draws - (population - successes)); x < Math.min(k, draws + 1, successes + 1); x++) {
    p += Math.exp(logChoose(successes, x) + logChoose(population - successes, draws - x) - total);
  }
  return p;
}
