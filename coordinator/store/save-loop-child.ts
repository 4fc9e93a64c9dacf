/**
 * Child process of checkpoint-store-kill.test.ts: opens the store at argv[2] and saves
 * versions (1 MiB of weights plus a server state) as fast as it can, keep 3, until it
 * is killed. Prints "ready <latest>" after open and "saved <v>" once each save resolved,
 * so the parent knows which saves were acknowledged before the kill.
 */
import { CheckpointStore } from './checkpoint-store.ts';
import { serverState, weights } from './store-test-fixtures.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: save-loop-child.ts DATA_DIR');
const store = await CheckpointStore.open(dir, { keep: 3, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
process.stdout.write(`ready ${(await store.latest())?.version ?? -1}\n`);
for (;;) {
  const v = store.nextVersion();
  await store.save(weights(v, 1 << 18), serverState(v));
  process.stdout.write(`saved ${v}\n`);
}
