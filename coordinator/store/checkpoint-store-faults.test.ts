/**
 * Fault injection: a save of version 3 (weights, server state, .sha256, manifest; keep 2,
 * so version 1 is pruned) fails at each step. Either the process carries on with the
 * same store ('continue') or it dies there and a new process opens the folder ('crash').
 * Both must leave a store that verifies, resumes at version 2 (or 3 once the manifest
 * named it), never reuses number 3 and saves nextVersion() without error.
 */
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CheckpointStore, type SaveStep } from './checkpoint-store.ts';
import { assertSound, listing, serverState, tempDataDir, weights } from './store-test-fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

const FILES_OF_3 = ['versions/v000003.flkw', 'versions/v000003.server.flkw', 'versions/v000003.sha256', 'manifest.json'];
const cases: { step: SaveStep; file: string }[] = [
  ...FILES_OF_3.flatMap((file) => (['tmp-written', 'tmp-synced', 'renamed'] as const).map((step) => ({ step, file }))),
  { step: 'dropping', file: 'versions/v000001.flkw' },
];
const present = (p: string) => access(p).then(() => true, () => false);

for (const { step, file } of cases) {
  for (const mode of ['crash', 'continue'] as const) {
    test(`save fails at ${step} of ${file}, then ${mode}`, async () => {
      const t = await tempDataDir();
      cleanups.push(t.cleanup);
      const dir = t.dir;
      let armed = false;
      let fired = false;
      const warnings: string[] = [];
      const store = await CheckpointStore.open(dir, {
        keep: 2,
        onWarning: (m) => warnings.push(m),
        faults: (s, f) => {
          if (armed && s === step && f === file) {
            fired = true;
            throw new Error(`injected fault at ${s} of ${f}`);
          }
        },
      });
      for (const v of [1, 2]) await store.save(weights(v), serverState(v));
      armed = true;
      const committed = step === 'dropping' || (step === 'renamed' && file === 'manifest.json');
      if (step === 'dropping') {
        await store.save(weights(3), serverState(3)); // the version is saved; only the prune failed
        assert.ok(warnings.some((m) => m.includes('could not remove versions/v000001.flkw')), warnings.join('\n'));
        assert.ok(await present(join(dir, 'versions/v000001.flkw')), 'the fault kept the old file');
      } else {
        await assert.rejects(store.save(weights(3), serverState(3)), /injected fault/);
      }
      armed = false;
      assert.ok(fired, `the save never reached ${step} of ${file}`);
      assert.ok(store.nextVersion() >= 4, 'once a save started writing, its number is spent');

      let resumeAt = committed ? 3 : 2;
      if (mode === 'continue') {
        await store.save(weights(store.nextVersion()), serverState(store.nextVersion()));
        resumeAt = 4;
      }
      const current = await CheckpointStore.open(dir, { keep: 2, onWarning: (m) => warnings.push(m) });
      assert.equal((await current.latest())?.version, resumeAt);
      await assertSound(dir, current);
      assert.ok(current.nextVersion() > resumeAt); // and, by assertSound, past every file on disk
      const files = await listing(dir);
      if (committed || mode === 'continue') assert.ok(!files.includes('versions/v000001.flkw'), 'pruned, or the interrupted prune finished on open');
      if (!committed) {
        for (const f of FILES_OF_3.slice(0, 3)) assert.ok(!files.includes(f), `${f} of the failed save must not stay live`);
      }
      // And training goes on: the next version saves, verifies and is the latest.
      const next = current.nextVersion();
      await current.save(weights(next), serverState(next));
      const last = await CheckpointStore.open(dir, { keep: 2 });
      assert.equal((await last.latest())?.version, next);
      await assertSound(dir, last);
    });
  }
}
