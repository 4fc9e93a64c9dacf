/**
 * The crash drill's way into a save: FLOCK_STORE_PAUSE=<step>:<ms>[:<file part>] makes
 * every save stop for <ms> at <step> (a SaveStep) of each file whose path contains
 * <file part>, after logging where it stopped, so the drill can kill -9 the coordinator
 * while it is provably inside a save. Unset (always, outside drills), it does nothing.
 */
import { FlockError } from '../../shared/errors.ts';
import type { FaultHook, SaveStep } from './durable-file.ts';

const STEPS: readonly SaveStep[] = ['tmp-written', 'tmp-synced', 'renamed', 'dropping'];
export const PAUSE_ENV = 'FLOCK_STORE_PAUSE';
export const PAUSE_LOG_MESSAGE = 'store paused inside a save (crash drill)';

export function drillPauseFromEnv(value: string | undefined, log: (fields: object, msg: string) => void): FaultHook | undefined {
  if (!value) return undefined;
  const [step, msText, filePart = ''] = value.split(':');
  const ms = Number(msText);
  if (!STEPS.includes(step as SaveStep) || !Number.isFinite(ms) || ms < 0) {
    throw new FlockError('bad-config', `${PAUSE_ENV}=${value}: expected <step>:<ms>[:<file part>] with step one of ${STEPS.join(', ')}; it is for crash drills only, unset it to serve normally`);
  }
  log({ step, ms, file: filePart }, `${PAUSE_ENV} is set: every save pauses (crash drills only)`);
  return async (s, file) => {
    if (s !== step || !file.includes(filePart)) return;
    log({ step: s, file, ms }, PAUSE_LOG_MESSAGE);
    await new Promise((r) => setTimeout(r, ms));
  };
}
