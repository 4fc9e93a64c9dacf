/**
 * Node-only tests of the privacy check on hand-built traffic (no browser): the honest
 * shapes pass, and each leak or off-list shape fails for the reason it should.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { PROTOCOL_VERSION, type ModelsResponse } from '../../shared/protocol/messages.ts';
import { encodeUpdate } from '../../shared/update/tensor-codec.ts';
import { checkSentTraffic, describePrivacyReport } from './assert-allowed-traffic.ts';
import { findLikedIds } from './liked-id-search.ts';
import { auditMessageSchema, classifySentTraffic, type Violation } from './sent-traffic-allow-list.ts';
import type { CapturedFrame, CapturedRequest, TrafficRecord } from './traffic-capture.ts';

const ORIGIN = 'http://127.0.0.1:4321';
const WS_URL = 'ws://127.0.0.1:4321/socket.io/?EIO=4&transport=websocket';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhYmNkZWZnaGlqa2xtbm9wIn0.c2lnbmF0dXJlLW9mLXRoZS1jb29yZGluYXRvcg';
const STATIC = ['index.html', 'lab.html', 'assets/index-D_GxUPDW.js', 'assets/index-Dpsp8_LU.css', 'assets/tfjs-backend-wasm-simd-BrM3BlWr.wasm'];
const LIKED = [3, 9, 6, 12, 15, 18, 21];
const NUM_ITEMS = 30;
const DIM = 2;
const CLIP = 1;

const MODELS: ModelsResponse = {
  protocolVersion: PROTOCOL_VERSION,
  models: [
    {
      protocolVersion: PROTOCOL_VERSION,
      version: 0,
      model: { kind: 'mf', numItems: NUM_ITEMS, dim: DIM },
      privacy: null,
      params: [
        { name: 'itemEmbedding', shape: [NUM_ITEMS, DIM], scope: 'global' },
        { name: 'itemBias', shape: [NUM_ITEMS], scope: 'global' },
        { name: 'userEmbedding', shape: [DIM], scope: 'local' },
      ],
      round: { localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 0, clipNorm: CLIP, seed: 0 },
    },
  ],
};

const HEADERS = {
  accept: '*/*',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'accept-language': 'en-US,en;q=0.9',
  connection: 'keep-alive',
  host: '127.0.0.1:4321',
  referer: `${ORIGIN}/?backend=wasm`,
  'sec-fetch-dest': 'empty',
  'sec-fetch-mode': 'cors',
  'sec-fetch-site': 'same-origin',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  'sec-ch-ua': '"Not:A-Brand";v="8", "Chromium";v="156"',
};

function get(pathname: string, resourceType = 'fetch', headers: Record<string, string> = {}): CapturedRequest {
  return { url: ORIGIN + pathname, method: 'GET', body: null, resourceType, headers: { ...HEADERS, ...headers } };
}

function post(pathname: string, body: string, headers: Record<string, string> = {}): CapturedRequest {
  const b = Buffer.from(body);
  return {
    url: ORIGIN + pathname,
    method: 'POST',
    body: b,
    resourceType: 'fetch',
    headers: { ...HEADERS, origin: ORIGIN, 'content-type': 'application/json', 'content-length': String(b.length), ...headers },
  };
}

/** An honest update of the mf model for round 1 on version 0: rows of touched items non-zero. */
function honestUpdate(over: Partial<Parameters<typeof encodeUpdate>[0]> = {}): Buffer {
  const emb = new Float32Array(NUM_ITEMS * DIM);
  const bias = new Float32Array(NUM_ITEMS);
  for (const i of [3, 4, 9, 17]) {
    emb[i * DIM] = 0.1;
    bias[i] = -0.05;
  }
  return Buffer.from(
    encodeUpdate({
      round: 1,
      baseVersion: 0,
      numExamples: 20,
      preClipNorm: 0.4,
      tensors: [
        { name: 'itemEmbedding', shape: [NUM_ITEMS, DIM], data: emb },
        { name: 'itemBias', shape: [NUM_ITEMS], data: bias },
      ],
      ...over,
    }),
  );
}

const frame = (payload: string | Buffer, socket = 0): CapturedFrame => ({ socket, url: WS_URL, payload });

/** What an honest page sends: the app, the catalog and models, a credential, one socket with join, eligibility and an update. */
function honest(): {
  requests: CapturedRequest[];
  sockets: { id: number; url: string }[];
  frames: CapturedFrame[];
  received: { socket: number; payload: string }[];
  responses: TrafficRecord['responses'][number][];
  validators: TrafficRecord['validators'][number][];
  pending: number;
} {
  return {
    requests: [
      get('/?backend=wasm', 'document', { accept: 'text/html,application/xhtml+xml,*/*;q=0.8', referer: '', 'upgrade-insecure-requests': '1' }),
      get('/assets/index-Dpsp8_LU.css', 'stylesheet', { accept: 'text/css,*/*;q=0.1', origin: ORIGIN }),
      get('/assets/index-D_GxUPDW.js', 'script', { origin: ORIGIN }),
      get('/assets/tfjs-backend-wasm-simd-BrM3BlWr.wasm'),
      get('/api/catalog'),
      get('/api/models'),
      post('/api/credentials', '{}'),
      get('/api/models/mf/weights/0'),
      get('/api/models/mf/weights/1'),
    ].map((r) => {
      if (r.headers.referer === '') delete r.headers.referer;
      return r;
    }),
    sockets: [{ id: 0, url: WS_URL }],
    frames: [
      frame(`40/models/mf,${JSON.stringify({ token: TOKEN })}`),
      frame(`42/models/mf,${JSON.stringify(['join', { protocolVersion: PROTOCOL_VERSION, backend: 'wasm', eligible: false }])}`),
      frame('42/models/mf,["eligibility",{"eligible":true}]'),
      frame('3'),
      frame('451-/models/mf,["update",{"_placeholder":true,"num":0}]'),
      frame(honestUpdate()),
      frame('41/models/mf,'),
    ],
    received: [
      { socket: 0, payload: '0{"sid":"14XAC6d0ZPsaveeuAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}' },
      { socket: 0, payload: `42/models/mf,["welcome",{"protocolVersion":${PROTOCOL_VERSION},"participantId":"abcdefghijklmnop","model":{"kind":"mf","numItems":${NUM_ITEMS},"dim":${DIM}},"version":0}]` },
      {
        socket: 0,
        payload: `42/models/mf,${JSON.stringify(['round:start', { round: 1, version: 0, deadline: 1e12, config: { ...MODELS.models[0].round, seed: 5 } }])}`,
      },
      { socket: 0, payload: '42/models/mf,["model:version",{"version":1,"round":1}]' },
    ],
    responses: [
      { url: `${ORIGIN}/api/models`, method: 'GET', status: 200, json: MODELS },
      { url: `${ORIGIN}/api/credentials`, method: 'POST', status: 200, json: { token: TOKEN, participantId: 'abcdefghijklmnop', expiresAt: 2e12 } },
    ],
    validators: [{ url: `${ORIGIN}/api/catalog`, etag: 'W/"2011-VfDxeE47mwGonThmEZTnvowG23M"' }],
    pending: 0,
  };
}

const classify = (record: TrafficRecord): Violation[] => classifySentTraffic(record, { origin: ORIGIN, staticFiles: STATIC });

/** Asserts the record is refused, one of the reasons matching `why` (the honest part alone passes: first test). */
function assertRefused(record: TrafficRecord, why: RegExp): void {
  const v = classify(record);
  assert.ok(v.some((x) => why.test(x.why)), `expected a violation matching ${why}, got ${v.length}:\n${v.map((x) => `${x.where}: ${x.why}`).join('\n')}`);
}

function withFrames(...extra: (string | Buffer)[]): TrafficRecord {
  const r = honest();
  r.frames.push(...extra.map((p) => frame(p)));
  return r;
}

test('honest traffic passes both layers', () => {
  const record = honest();
  assert.deepEqual(classify(record), []);
  assert.deepEqual(findLikedIds(record, LIKED), []);
  assert.equal(describePrivacyReport('page', checkSentTraffic(record, { origin: ORIGIN, staticFiles: STATIC, liked: LIKED, page: 'page' })), '');
});

test('the protocol\'s client schemas audit clean; a free-text, open-number or non-strict schema is reported', () => {
  assert.deepEqual(auditMessageSchema(z.object({ eligible: z.boolean(), backend: z.enum(['a', 'b']) }).strict(), {}), []);
  assert.match(auditMessageSchema(z.object({ note: z.string() }).strict(), {}).join(), /field 'note' \(ZodString\)/);
  assert.match(auditMessageSchema(z.object({ n: z.number().int().max(400) }).strict(), {}).join(), /field 'n' \(ZodNumber\)/);
  assert.match(auditMessageSchema(z.object({ items: z.array(z.string()).optional() }).strict(), {}).join(), /field 'items' \(ZodArray\)/);
  assert.match(auditMessageSchema(z.object({ eligible: z.boolean() }), {}).join(), /not strict/);
  assert.deepEqual(auditMessageSchema(z.object({ note: z.string() }).strict(), { note: () => null }), []);
});

test('socket.io events: unknown fields, unknown events, wrong protocol version, JSON updates, acks and odd JSON fail', () => {
  assertRefused(withFrames('42/models/mf,["eligibility",{"eligible":true,"items":["3","9","6"]}]'), /Unrecognized key\(s\) in object: 'items'/);
  assertRefused(withFrames('42/models/mf,["join",{"protocolVersion":3,"backend":"wasm","eligible":true,"ratings":{"3":5,"6":5,"9":4}}]'), /Unrecognized key/);
  // JSON.stringify puts integer-like keys first, in ascending order: another order is not what it writes.
  assertRefused(withFrames('42/models/mf,["join",{"protocolVersion":3,"backend":"wasm","eligible":true,"ratings":{"9":4,"3":5,"6":5}}]'), /JSON\.stringify writes/);
  assertRefused(withFrames(`42/models/mf,["join",{"protocolVersion":${PROTOCOL_VERSION + 1},"backend":"wasm","eligible":true}]`), /must be PROTOCOL_VERSION/);
  assertRefused(withFrames('42/models/mf,["join",{"protocolVersion":3,"backend":"my gpu","eligible":true}]'), /backend/);
  assertRefused(withFrames('42/models/mf,["liked","3,9,6"]'), /not in CLIENT_EVENTS/);
  assertRefused(withFrames('42/models/mf,["update",[3,9,6]]'), /must be a BINARY_EVENT/);
  assertRefused(withFrames('42/models/mf,["eligibility",{"eligible":true},"extra"]'), /\[name, payload\]/);
  assertRefused(withFrames('42/models/mf,["eligibility", {"eligible":true}]'), /JSON\.stringify writes/);
  assertRefused(withFrames('42/models/mf,["eligibility",{"eligible":true,"eligible":true}]'), /JSON\.stringify writes/);
  assertRefused(withFrames('42/models/mf,17["eligibility",{"eligible":true}]'), /acknowledgement id/);
  assertRefused(withFrames('42["eligibility",{"eligible":true}]'), /not a model namespace/);
  assertRefused(withFrames('42/models/other,["eligibility",{"eligible":true}]'), /not a model namespace/);
  assertRefused(withFrames('43/models/mf,[]'), /packet type 3/);
  assertRefused(withFrames('41/models/mf,"3,9,6"'), /DISCONNECT must carry nothing/);
  assertRefused(withFrames('4hello'), /not a socket.io packet/);
});

test('engine.io: only ping, pong, probe and upgrade besides messages', () => {
  assert.deepEqual(classify(withFrames('2', '3', '2probe', '3probe', '5')), []);
  assertRefused(withFrames('3[3,9,6]'), /pong must be empty or "probe"/);
  assertRefused(withFrames('6'), /engine.io packet type "6"/);
  assertRefused(withFrames('1'), /engine.io packet type "1"/);
});

test('CONNECT: auth must parse with HandshakeAuthSchema and carry a token issued to this page', () => {
  assertRefused(withFrames('40/models/mf,{"token":"Myw5LDY.MTIsMTU.MTgsMjE"}'), /not a credential the coordinator issued/);
  assertRefused(withFrames(`40/models/mf,${JSON.stringify({ token: TOKEN, liked: [3, 9, 6] })}`), /Unrecognized key/);
  assertRefused(withFrames('40/models/mf,{}'), /token: Required/);
  const noCredential = honest();
  noCredential.responses = noCredential.responses.filter((r) => !r.url.endsWith('/api/credentials'));
  assert.match(classify(noCredential).map((v) => v.why).join('\n'), /no credential was issued to this page/);
});

test('binary frames: only one decodable, well-formed update right after its BINARY_EVENT', () => {
  const ids = Buffer.from(new Float32Array(LIKED).buffer);
  assertRefused(withFrames(ids), /binary frame not announced/);
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', ids), /does not decode as a ModelUpdate: update: bad magic/);
  const two = classify(withFrames('452-/models/mf,["update",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', honestUpdate(), ids));
  assert.deepEqual(two.map((v) => v.why.replace(/ 451.*/, '')), ['BINARY_EVENT must be exactly', 'binary frame not announced by an update BINARY_EVENT', 'binary frame not announced by an update BINARY_EVENT']);
  assertRefused(withFrames('451-/models/mf,["liked",{"_placeholder":true,"num":0}]', ids), /BINARY_EVENT must be exactly/);
  // The second binary frame after one BINARY_EVENT is not announced.
  const twice = classify(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', honestUpdate(), ids));
  assert.deepEqual(twice.map((v) => v.why), ['binary frame not announced by an update BINARY_EVENT']);
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', '42/models/mf,["eligibility",{"eligible":true}]'), /binary attachment .* was due/);
  const extraTensor = honestUpdate({
    tensors: [
      { name: 'itemEmbedding', shape: [NUM_ITEMS, DIM], data: new Float32Array(NUM_ITEMS * DIM) },
      { name: 'itemBias', shape: [NUM_ITEMS], data: new Float32Array(NUM_ITEMS) },
      { name: 'liked', shape: [LIKED.length], data: new Float32Array(LIKED) },
    ],
  });
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', extraTensor), /unexpected tensor liked/);
  const local = honestUpdate({
    tensors: [
      { name: 'itemEmbedding', shape: [NUM_ITEMS, DIM], data: new Float32Array(NUM_ITEMS * DIM) },
      { name: 'itemBias', shape: [NUM_ITEMS], data: new Float32Array(NUM_ITEMS) },
      { name: 'userEmbedding', shape: [DIM], data: new Float32Array([0.3, 0.1]) },
    ],
  });
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', local), /unexpected tensor userEmbedding/);
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', honestUpdate({ round: 7 })), /round 7, a round never opened/);
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', honestUpdate({ baseVersion: 9 })), /version 9, never announced/);
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', honestUpdate({ numExamples: 3.0906 })), /numExamples must be a positive integer/);
  const big = new Float32Array(NUM_ITEMS);
  big[3] = 5;
  const overBound = honestUpdate({ tensors: [{ name: 'itemEmbedding', shape: [NUM_ITEMS, DIM], data: new Float32Array(NUM_ITEMS * DIM) }, { name: 'itemBias', shape: [NUM_ITEMS], data: big }] });
  assertRefused(withFrames('451-/models/mf,["update",{"_placeholder":true,"num":0}]', overBound), /exceeds clip bound/);
});

test('HTTP: only known GETs without extra queries, the credential POST, the coordinator\'s origin and allowed headers', () => {
  const withRequest = (r: CapturedRequest): TrafficRecord => {
    const h = honest();
    h.requests.push(r);
    return h;
  };
  assertRefused(withRequest(get('/api/catalog?liked=3,9,6')), /query parameter 'liked' is not allowed/);
  assertRefused(withRequest(get('/?backend=wasm&l=18,15,12', 'document')), /query parameter 'l' is not allowed/);
  assertRefused(withRequest(get('/?backend=3,9,6', 'document')), /has a value not allowed/);
  assertRefused(withRequest(get('/assets/index-D_GxUPDW.js?v=3')), /query parameter 'v'/);
  assertRefused(withRequest(get('/api/models/mf/rounds?limit=3')), /not a path of the app/);
  assertRefused(withRequest(get('/api/liked/3/9/6')), /not a path of the app/);
  assertRefused(withRequest(get('/api/models/mf/weights/12')), /weights version 12 of mf was never announced/);
  assertRefused(withRequest(get('/api/models/mf/weights/01')), /not a canonical version number/);
  assertRefused(withRequest({ ...get('/api/catalog'), url: 'http://127.0.0.1:9999/api/catalog' }), /not the coordinator/);
  assertRefused(withRequest(post('/api/credentials', '{"invite":"18,15,12"}')), /only the invite the test configured/);
  assertRefused(withRequest(post('/api/credentials', '{"note":"3,9,6"}')), /Unrecognized key/);
  assertRefused(withRequest(post('/api/credentials', '{ }')), /JSON\.stringify writes/);
  assertRefused(withRequest(post('/api/ratings', '{"3":5}')), /POST is allowed only as POST \/api\/credentials/);
  assertRefused(withRequest({ ...get('/api/catalog'), method: 'PUT' }), /PUT is allowed only/);
  assertRefused(withRequest({ ...post('/api/credentials', '{}'), resourceType: 'ping', headers: { ...HEADERS, origin: ORIGIN, 'content-type': 'text/plain;charset=UTF-8', 'content-length': '2' } }), /content-type/);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { 'x-liked': '3,9,6' })), /header 'x-liked' is not on the allow-list/);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { cookie: 'liked=3.9.6' })), /header 'cookie'/);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { accept: 'application/3-9-6' })), /header accept/);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { 'accept-language': 'x-3,x-9,x-6' })), /differs from the page's first one/);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { referer: `${ORIGIN}/?backend=wasm&liked=3,9,6` })), /header referer/);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { referer: `${ORIGIN}/liked/3/9/6` })), /not a page of the app/);
  // Revalidation: only with what the coordinator sent for that URL; a reload's navigation may carry cache-control.
  assert.deepEqual(classify(withRequest(get('/api/catalog', 'fetch', { 'if-none-match': 'W/"2011-VfDxeE47mwGonThmEZTnvowG23M"' }))), []);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { 'if-none-match': 'W/"3-9-6"' })), /not a validator the coordinator sent/);
  assertRefused(withRequest(get('/api/models', 'fetch', { 'if-none-match': 'W/"2011-VfDxeE47mwGonThmEZTnvowG23M"' })), /not a validator the coordinator sent/);
  assert.deepEqual(classify(withRequest(get('/?backend=wasm', 'document', { accept: 'text/html', 'cache-control': 'max-age=0' }))), []);
  assertRefused(withRequest(get('/api/catalog', 'fetch', { 'cache-control': 'max-age=0' })), /only a reload's navigation/);
  // Reading from data: or blob: URLs stays inside the browser.
  assert.deepEqual(classify(withRequest({ ...get('/'), url: 'data:text/plain,3,9,6' })), []);
});

test('WebSockets: only socket.io over websocket on the coordinator', () => {
  const withSocket = (url: string): TrafficRecord => {
    const h = honest();
    h.sockets.push({ id: 1, url });
    return h;
  };
  assertRefused(withSocket('ws://127.0.0.1:4321/socket.io/?EIO=4&transport=websocket&liked=3,9,6'), /query parameter 'liked'/);
  assertRefused(withSocket('ws://127.0.0.1:4321/leak'), /not \/socket.io\//);
  assertRefused(withSocket('ws://127.0.0.1:5555/socket.io/?EIO=4&transport=websocket'), /not the coordinator/);
  assertRefused(withSocket('ws://127.0.0.1:4321/socket.io/?EIO=3&transport=websocket'), /EIO=3 has a value not allowed/);
});

test('a capture still reading headers or bodies is not checked as if complete', () => {
  assertRefused({ ...honest(), pending: 2 }, /still being read/);
});

test('second layer: the liked ids in each encoding are found, wherever they are', () => {
  const at = (payload: string | Buffer) => findLikedIds({ ...honest(), frames: [frame(payload)] }, LIKED);
  const encodings = (payload: string | Buffer) => at(payload).map((f) => f.encoding);
  assert.deepEqual(encodings('42/models/mf,["x",["3","9","6","12"]]'), ['decimal text']);
  assert.deepEqual(encodings('42/models/mf,["x","21,18,15,12,6,9,3"]'), ['decimal text']);
  assert.deepEqual(encodings('42/models/mf,["x",{"3":5,"9":4,"6":5}]'), ['decimal text']);
  assert.deepEqual(encodings('42/models/mf,["x","3 | 9 | 6"]'), ['decimal text']);
  assert.ok(encodings(`42/models/mf,["x","${Buffer.from(JSON.stringify(LIKED)).toString('base64')}"]`).includes('base64 → decimal text'));
  assert.ok(encodings(`42/models/mf,["x","${Buffer.from('6,12,3').toString('base64url')}"]`).includes('base64 → decimal text'));
  assert.ok(encodings(`42/models/mf,["x","${Buffer.from(new Int32Array(LIKED).buffer).toString('base64')}"]`).includes('base64 → int32 LE'));
  assert.ok(encodings(`42/models/mf,["x","${Buffer.from(new Float32Array([21, 3, 9]).buffer).toString('hex')}"]`).includes('hex → float32 LE'));
  assert.ok(encodings(Buffer.from(new Float32Array([0.5, 21, 3, 9, 0.25]).buffer)).includes('float32 LE'));
  assert.ok(encodings(Buffer.concat([Buffer.from([7]), Buffer.from(new Float64Array([12, 15, 18]).buffer)])).includes('float64 LE'));
  assert.ok(encodings(Buffer.from(new Uint16Array([9, 3, 6]).buffer)).includes('uint16 LE'));
  assert.ok(encodings(Buffer.from([0xff, 3, 9, 6, 12, 0xff])).includes('uint8'));
  // In a URL, percent-encoded, or a header.
  assert.equal(findLikedIds({ ...honest(), requests: [get('/api/catalog?l=%5B3%2C9%2C6%5D')] }, LIKED)[0]?.encoding, 'decimal text');
  assert.match(findLikedIds({ ...honest(), requests: [get('/api/catalog', 'fetch', { 'x-l': '6;9;3' })] }, LIKED)[0]?.where ?? '', /header x-l/);
  // Two liked ids, or ids far apart in unrelated text, are not a finding; an update is not searched.
  assert.deepEqual(at('42/models/mf,["x",[3,9,100,101]]'), []);
  assert.deepEqual(at('42/models/mf,["join",{"protocolVersion":3,"a":"3 apples and 9 pears","b":6}]'), []);
  const bias = new Float32Array(NUM_ITEMS);
  bias.set([3, 9, 6]);
  const update = honestUpdate({ tensors: [{ name: 'itemEmbedding', shape: [NUM_ITEMS, DIM], data: new Float32Array(NUM_ITEMS * DIM) }, { name: 'itemBias', shape: [NUM_ITEMS], data: bias }] });
  assert.deepEqual(at(update), [], 'a decodable update is the allow-list\'s business, not searched');
  assert.deepEqual(encodings(update.subarray(4)), ['float32 LE'], 'the same bytes, not decodable as an update, are searched');
});

test('second layer: no finding in honest traffic for any run of five consecutive ids, or the first ids of each hundred', () => {
  const record = honest();
  for (let start = 0; start + 5 <= NUM_ITEMS * 20; start++) {
    const liked = [start, start + 1, start + 2, start + 3, start + 4];
    assert.deepEqual(findLikedIds(record, liked), [], `liked ${liked.join(',')}`);
  }
  for (let h = 0; h < 4000; h += 100) assert.deepEqual(findLikedIds(record, [h, h + 3, h + 6, h + 9]), []);
});

test('the assertion names each problem, and refuses a capture that saw nothing', async () => {
  const { assertOnlyAllowedTrafficSent } = await import('./assert-allowed-traffic.ts');
  const opts = { origin: ORIGIN, staticFiles: STATIC, liked: LIKED, page: 'page 7' };
  assertOnlyAllowedTrafficSent(honest(), opts);
  assert.throws(() => assertOnlyAllowedTrafficSent({ ...honest(), requests: [], frames: [] }, opts), /page 7: capture saw nothing sent/);
  assert.throws(() => assertOnlyAllowedTrafficSent({ ...honest(), frames: [] }, opts), /page 7: the page sent no WebSocket frame/);
  assertOnlyAllowedTrafficSent({ ...honest(), frames: [] }, { ...opts, expectSocket: false });
  assert.throws(
    () => assertOnlyAllowedTrafficSent(withFrames('42/models/mf,["eligibility",{"eligible":true,"items":["3","9","6"]}]'), opts),
    /page 7: 1 request\(s\)\/frame\(s\) not on the allow-list, liked ids found 1 time\(s\)\n {2}not allowed: ws#0 frame 7 \(text\): eligibility payload does not parse with the protocol schema: Unrecognized key\(s\) in object: 'items'.*\n {2}liked ids 3,9,6 as decimal text in ws#0 frame 7 \(text\)$/,
  );
});
