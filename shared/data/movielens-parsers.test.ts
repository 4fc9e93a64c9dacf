import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlockError } from '../errors.ts';
import {
  buildDataset,
  parseMoviesDatTitles,
  parseRatingsDat,
  parseUData,
  parseUItemTitles,
} from './movielens-parsers.ts';

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('parseUData reads tab-separated ratings, skipping blank lines and \\r', () => {
  const rows = parseUData('196\t242\t3\t881250949\r\n\n186\t302\t3\t891717742\n');
  assert.deepEqual(rows, [
    { user: '196', item: '242', rating: 3, timestamp: 881250949 },
    { user: '186', item: '302', rating: 3, timestamp: 891717742 },
  ]);
});

test('parseRatingsDat reads :: separated ratings', () => {
  assert.deepEqual(parseRatingsDat('1::1193::5::978300760\n1::661::3::978302109\n'), [
    { user: '1', item: '1193', rating: 5, timestamp: 978300760 },
    { user: '1', item: '661', rating: 3, timestamp: 978302109 },
  ]);
});

test('malformed lines throw bad-data naming the file kind and line number', () => {
  const expectBad = (fn: () => unknown, kind: string, line: number) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof FlockError);
      assert.equal(e.code, 'bad-data');
      assert.match(e.message, new RegExp(`${kind.replace('.', '\\.')} line ${line}\\b`));
      return true;
    });
  expectBad(() => parseUData('1\t2\t3\t4\n\n1\t2\t3\n'), 'u.data', 3);
  expectBad(() => parseUData('1\t2\tx\t4\n'), 'u.data', 1);
  expectBad(() => parseRatingsDat('1::2::3::4\n1::2::3::later\n'), 'ratings.dat', 2);
  expectBad(() => parseUItemTitles(latin1('1|A|x\n2\n')), 'u.item', 2);
});

test('titles are decoded as Latin-1 (0xE9 is é)', () => {
  const uItem = latin1('1|Toy Story (1995)|01-Jan-1995||http://x|0|0\r\n2|Am\xe9lie (2001)|x\n');
  assert.deepEqual([...parseUItemTitles(uItem)], [
    ['1', 'Toy Story (1995)'],
    ['2', 'Amélie (2001)'],
  ]);
  const movies = latin1('1::Toy Story (1995)::Animation|Comedy\n2::Caf\xe9 (1999)::Drama\n');
  assert.equal(parseMoviesDatTitles(movies).get('2'), 'Café (1999)');
});

test('buildDataset maps raw ids to dense ids in numeric order', () => {
  const rows = parseUData('10\t20\t4\t100\n2\t3\t5\t50\n10\t3\t1\t70\n');
  const ds = buildDataset('tiny', rows, new Map([['3', 'Three']]));
  assert.equal(ds.name, 'tiny');
  assert.equal(ds.numUsers, 2);
  assert.equal(ds.numItems, 2);
  // Users: "2" → 0, "10" → 1 (numeric, not string, order). Items: "3" → 0, "20" → 1.
  assert.deepEqual(ds.interactions, [
    { user: 1, item: 1, rating: 4, timestamp: 100 },
    { user: 0, item: 0, rating: 5, timestamp: 50 },
    { user: 1, item: 0, rating: 1, timestamp: 70 },
  ]);
  assert.deepEqual(ds.titles, ['Three', 'Item 20']);
});
