import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { FlockError } from '../../shared/errors.ts';
import { readableByOthers, writeSecretFile } from './secret-file.ts';

/** Where a generated operator token is kept: `<dataDir>/operator-token`, mode 0600. */
export const operatorTokenFile = (dataDir: string): string => path.join(dataDir, 'operator-token');

const MIN_TOKEN_CHARS = 16;

/**
 * The secret that guards /api/admin: the configured one (`--operator-token` or
 * FLOCK_OPERATOR_TOKEN), else the one in `<dataDir>/operator-token`, generated (32
 * random bytes) at first start. The file's path is logged, never the token.
 */
export async function resolveOperatorToken(configured: string | undefined, dataDir: string, log: Logger): Promise<string> {
  const given = configured;
  if (given !== undefined && given !== '') {
    if (given.length < MIN_TOKEN_CHARS) throw new FlockError('bad-config', `the operator token must be at least ${MIN_TOKEN_CHARS} characters (e.g. \`openssl rand -base64 32\`)`);
    return given;
  }
  const file = operatorTokenFile(dataDir);
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length < MIN_TOKEN_CHARS) throw new FlockError('bad-config', `${file} holds no usable operator token (at least ${MIN_TOKEN_CHARS} characters): delete it to have a new one generated`);
    if (await readableByOthers(file)) log.warn({ file }, 'the operator token file is readable by other users: chmod 600 it');
    log.info({ file }, 'operator token for /api/admin read from file');
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writeSecretFile(file, token + '\n');
  log.info({ file }, 'generated an operator token for /api/admin; it is in this file');
  return token;
}
