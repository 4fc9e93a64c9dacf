import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { FlockError } from '../../shared/errors.ts';
import { operatorTokenFile } from '../identity/operator-token.ts';

interface RemoteOptions {
  readonly url: string;
  readonly tokenFile: string;
}

/** One call to a running coordinator's admin catalog API; its JSON body, or a typed error with the coordinator's message. */
async function call(o: RemoteOptions, route: string, body?: unknown): Promise<unknown> {
  const token = (await readFile(o.tokenFile, 'utf8').catch(() => {
    throw new FlockError('not-found', `cannot read the operator token file ${o.tokenFile} (--token-file; the coordinator writes <data-dir>/operator-token)`);
  })).trim();
  const res = await fetch(`${o.url.replace(/\/$/, '')}/api/admin${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) throw new FlockError('bad-config', `${route}: HTTP ${res.status} ${json.error?.code ?? ''}: ${json.error?.message ?? ''}`.trim());
  return json;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * `flock catalog list|add|retire --url U --token-file F`: the running coordinator's
 * catalog through its admin API (coordinator/catalog/catalog-admin-routes.ts). An added
 * item becomes part of every served model in a new version, between rounds.
 */
export function registerCatalogCommand(program: Command, defaultDataDir: string): void {
  const catalog = program.command('catalog').description('a running coordinator\'s catalog: list, add and retire items');
  const remote = (c: Command) =>
    c.option('--url <url>', 'the coordinator', 'http://127.0.0.1:8080').option('--token-file <file>', 'file holding the operator token', operatorTokenFile(defaultDataDir));

  remote(catalog.command('list').description('every item: id, title, features, retired'))
    .option('--json', 'print the JSON answer')
    .action(async (o: RemoteOptions & { json?: boolean }) => {
      const r = (await call(o, '/catalog')) as { version: number; items: { id: number; title: string; features: string[]; retired: boolean }[] };
      if (o.json) return console.log(JSON.stringify(r, null, 2));
      console.log(`catalog version ${r.version}, ${r.items.length} items`);
      for (const i of r.items) console.log(`${String(i.id).padStart(6)}  ${i.retired ? '[retired] ' : ''}${i.title}${i.features.length ? `  (${i.features.join(', ')})` : ''}`);
    });

  remote(catalog.command('add <title>').description('add an item; features (genres, tags) let the MF model score it before anyone interacted with it'))
    .option('--feature <name>', 'a feature, e.g. genre:Comedy (repeatable, at most 16)', collect, [])
    .action(async (title: string, o: RemoteOptions & { feature: string[] }) => {
      const r = (await call(o, '/catalog/items', { title, features: o.feature })) as { id: number; version: number };
      console.log(`added item ${r.id} (catalog version ${r.version}); the models grow in their next version`);
    });

  remote(catalog.command('retire <id>').description('retire an item: never recommended again, never sampled as a negative'))
    .action(async (id: string, o: RemoteOptions) => {
      const r = (await call(o, `/catalog/items/${encodeURIComponent(id)}/retire`, {})) as { id: number; version: number };
      console.log(`retired item ${r.id} (catalog version ${r.version})`);
    });
}
