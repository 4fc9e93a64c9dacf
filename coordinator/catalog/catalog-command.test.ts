/**
 * `flock catalog list|add|retire` against a running coordinator: the CLI in a child
 * process, the admin API over loopback, the operator token read from a file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { DEFAULT_CATALOG } from '../../shared/data/synthetic-dataset.ts';
import { CatalogResponseSchema } from '../../shared/protocol/messages.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { runFlockCli } from '../testing/run-flock-cli.ts';

const TOKEN = 'catalog-cli-operator-token-0123456789';

test('flock catalog add / list / retire change a running coordinator\'s catalog; refusals exit non-zero and change nothing', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-catalog-cli-'));
  const tokenFile = path.join(dataDir, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`);
  const c = await startCoordinator({ ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 4, staticDir: path.join(dataDir, 'none'), operatorToken: TOKEN }, pino({ level: 'silent' }));
  const remote = ['--url', c.url, '--token-file', tokenFile];
  const catalog = async () => CatalogResponseSchema.parse(await (await fetch(`${c.url}/api/catalog`)).json());
  try {
    const added = await runFlockCli('catalog', 'add', 'Brand New', '--feature', 'genre:Drama', '--feature', 'genre:War', ...remote);
    assert.equal(added.code, 0, added.out);
    assert.match(added.out, new RegExp(`added item ${DEFAULT_CATALOG.items} \\(catalog version 1\\)`));
    const listed = await runFlockCli('catalog', 'list', '--json', ...remote);
    assert.equal(listed.code, 0, listed.out);
    const items = (JSON.parse(listed.out) as { items: { id: number; title: string; features: string[] }[] }).items;
    assert.deepEqual(items[DEFAULT_CATALOG.items], { id: DEFAULT_CATALOG.items, title: 'Brand New', features: ['genre:Drama', 'genre:War'], retired: false });

    const retired = await runFlockCli('catalog', 'retire', '3', ...remote);
    assert.equal(retired.code, 0, retired.out);
    assert.deepEqual((await catalog()).retired, [3]);

    const refused = [
      await runFlockCli('catalog', 'retire', '3', ...remote),
      await runFlockCli('catalog', 'add', '', ...remote),
      await runFlockCli('catalog', 'add', 'Wrong token', '--url', c.url, '--token-file', path.join(dataDir, 'missing')),
    ];
    for (const r of refused) assert.notEqual(r.code, 0, r.out);
    assert.match(refused[0].out, /409 duplicate/);
    assert.match(refused[1].out, /400 malformed/);
    assert.equal((await catalog()).version, 2, 'refusals changed nothing');
  } finally {
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
