import type { Command } from 'commander';
import path from 'node:path';
import pino from 'pino';
import { CredentialIssuer, type SigningKeyInfo } from './credential-issuer.ts';

const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());

function table(keys: readonly SigningKeyInfo[]): string {
  const rows = [['kid', 'created', 'retired', 'signing'], ...keys.map((k) => [k.kid, iso(k.createdAt), iso(k.retiredAt), k.signing ? 'yes' : ''])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

const LIVE_NOTE = 'a running coordinator on this data dir picks the change up at its next credential check';

/**
 * `flock keys list|rotate|retire <kid> --data-dir D`: the credential signing keys in
 * `<data-dir>/identity/keys.json` (a running coordinator: POST /api/admin/keys/…).
 */
export function registerKeysCommand(program: Command, defaultDataDir: string): void {
  const keys = program.command('keys').description('participant credential signing keys: list, rotate, retire');
  const open = (o: { dataDir: string }) => CredentialIssuer.open(path.resolve(o.dataDir), pino({ level: 'warn', base: undefined }));

  keys
    .command('list')
    .description('every key: kid, when created and retired, which one signs new credentials')
    .option('--data-dir <dir>', 'the coordinator\'s data dir', defaultDataDir)
    .action(async (o: { dataDir: string }) => {
      console.log(table(await (await open(o)).list()));
    });

  keys
    .command('rotate')
    .description('add a new signing key; credentials signed by older keys keep working until those are retired')
    .option('--data-dir <dir>', 'the coordinator\'s data dir', defaultDataDir)
    .action(async (o: { dataDir: string }) => {
      const issuer = await open(o);
      const k = await issuer.rotate();
      console.log(`new signing key ${k.kid}; ${LIVE_NOTE}`);
      console.log(table(await issuer.list()));
    });

  keys
    .command('retire <kid>')
    .description('refuse every credential signed by this key from now on (participants holding one ask for a new credential)')
    .option('--data-dir <dir>', 'the coordinator\'s data dir', defaultDataDir)
    .action(async (kid: string, o: { dataDir: string }) => {
      const issuer = await open(o);
      await issuer.retire(kid);
      console.log(`retired ${kid}; ${LIVE_NOTE}`);
      console.log(table(await issuer.list()));
    });
}
