/**
 * The popularity baseline: every person gets the same ranking, items ordered by how
 * many people interacted with them in the training split. Any personalised model has
 * to beat it to be worth anything.
 */
export function popularityScores(train: readonly Int32Array[], numItems: number): Float32Array {
  const counts = new Float32Array(numItems);
  for (const items of train) for (let j = 0; j < items.length; j++) counts[items[j]]++;
  return counts;
}
