/**
 * The privacy allow-list: every request and WebSocket frame a page SENT is classified,
 * and whatever is not one of the shapes below is a violation. It does not look for
 * what a leak might look like (that is liked-id-search.ts, the second layer); it
 * accepts only what the honest app sends, field by field, so an encoding nobody
 * thought of fails as surely as a known one.
 *
 * Allowed (anything else fails):
 * - GET of the built app: its pages (`/`, `/index.html`, …) with at most `?backend=`
 *   naming a backend; every other file of dist/ with no query at all.
 * - GET /api/catalog, /api/models, /api/health, /api/models/:kind and
 *   /api/models/:kind/weights/latest|:n, where :kind is a model kind of the protocol
 *   and :n a version the coordinator announced to this page (welcome, model:version,
 *   round:start); no query.
 * - POST /api/credentials with a JSON body that parses with CredentialRequestSchema
 *   (an invite only if it is the one the test configured).
 * - GET/POST only to the coordinator's origin; headers only from a fixed set, with
 *   page-settable ones pinned (content-type only on the credential POST, accept one of
 *   the browser's defaults, referer one of the app's pages, one user-agent and one
 *   accept-language for the whole page, if-none-match / if-modified-since only with a
 *   validator the coordinator sent for that URL, cache-control / pragma only on a
 *   reload's navigation); no cookies.
 * - One kind of WebSocket: `/socket.io/?EIO=4&transport=websocket` on the coordinator.
 *   Its frames, parsed as engine.io packets: ping, pong (optionally "probe"), upgrade;
 *   and socket.io packets on `/models/<kind>`:
 *   CONNECT with an auth object parsing with HandshakeAuthSchema whose token the
 *   coordinator issued to this page (POST /api/credentials response);
 *   DISCONNECT with nothing;
 *   EVENT `[name, payload]` with name in CLIENT_EVENTS and payload parsing with that
 *   event's strict protocol schema (unknown fields fail, protocolVersion must equal
 *   PROTOCOL_VERSION, and a field that could hold free text or an arbitrary number
 *   fails unless a rule here pins its value);
 *   BINARY_EVENT `["update",{"_placeholder":true,"num":0}]` followed by exactly one
 *   binary frame.
 *   Every JSON text must be exactly what JSON.stringify writes (no spacing, duplicate
 *   keys or number spellings to hide bits in); no acknowledgement ids.
 * - That binary frame must decode as a ModelUpdate (shared/update/tensor-codec.ts
 *   decodeUpdate) for a round the coordinator announced, based on a version it
 *   announced, holding exactly the model's GLOBAL parameters with their shapes, finite
 *   and within the round's clip bound (shared/update/check-update.ts). Any other
 *   binary frame fails.
 *
 * THE UPDATE IS THE ONE CHANNEL THAT CARRIES WHAT THE PERSON TOUCHED, BY DESIGN: the
 * rows of an embedding gradient are non-zero exactly for the items trained on (the
 * person's positives mixed with sampled negatives; see README "What an update
 * reveals"), and its float values could in principle carry anything. This check
 * allows it only as a well-formed update of the served model and says nothing about
 * what its numbers reveal; that leak is measured (membership AUC), not checked here.
 *
 * Field rules come from the protocol's own schemas (shared/protocol/messages.ts):
 * events from CLIENT_EVENTS, payloads from the event's schema, model kinds from
 * ModelDescriptorSchema. A schema that is not strict, or a field that could carry
 * free text or an open number with no pinned value, is itself reported, so the check
 * fails the day the protocol grows such a field instead of silently allowing it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { ZodTypeAny } from 'zod';
import {
  BackendNameSchema,
  CLIENT_EVENTS,
  CredentialRequestSchema,
  CredentialResponseSchema,
  EligibilityMessageSchema,
  EVENTS,
  HandshakeAuthSchema,
  JoinMessageSchema,
  ModelDescriptorSchema,
  ModelsResponseSchema,
  ModelVersionMessageSchema,
  PROTOCOL_VERSION,
  RoundStartMessageSchema,
  WelcomeMessageSchema,
  type ClientEvent,
  type ModelsResponse,
} from '../../shared/protocol/messages.ts';
import { modelApiPath, modelNamespace, weightsApiPath } from '../../shared/protocol/model-routes.ts';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { checkUpdateAgainstSpec } from '../../shared/update/check-update.ts';
import { decodeUpdate } from '../../shared/update/tensor-codec.ts';
import type { CapturedFrame, CapturedRequest, TrafficRecord } from './traffic-capture.ts';

export interface AllowListOptions {
  /** The coordinator's origin, e.g. http://127.0.0.1:4321: the only place a page may send to. */
  readonly origin: string;
  /** Paths (relative, '/'-separated) of the built app's files; default: every file under staticDir. */
  readonly staticFiles?: Iterable<string>;
  /** The built app, read when staticFiles is absent. */
  readonly staticDir?: string;
  /** The invite secret the test gave the page, if any: the only invite a credential request may carry. */
  readonly invite?: string;
  /** Credentials issued to this page outside the capture (e.g. kept from an earlier page of the context). */
  readonly tokens?: Iterable<string>;
  /** What the coordinator serves; default: the GET /api/models response the page received. */
  readonly models?: ModelsResponse;
}

export interface Violation {
  /** Which request or frame, e.g. `POST http://…/api/credentials` or `ws#0 frame 5 (text)`. */
  readonly where: string;
  /** What was sent (truncated). */
  readonly sent: string;
  /** Why it is not allowed. */
  readonly why: string;
}

/** Model kinds of the protocol, from its descriptor schema (a discriminated union on `kind`). */
export const PROTOCOL_MODEL_KINDS: readonly string[] = (() => {
  const union = (ModelDescriptorSchema as unknown as { innerType(): { options: { shape: { kind: { value: string } } }[] } }).innerType();
  return union.options.map((o) => o.shape.kind.value);
})();

/** Placeholder socket.io writes in place of a binary argument. */
const UPDATE_PLACEHOLDER = { _placeholder: true, num: 0 } as const;

/** Accept headers Chromium sets itself on requests that are not navigations (a page may set others, so only these pass). */
const BROWSER_ACCEPTS = new Set(['*/*', 'text/css,*/*;q=0.1']);

/**
 * Headers the page cannot set (the Fetch spec's forbidden names, `sec-*`) or whose value
 * is checked below. Anything else (custom headers, cookie, cache-control, authorization…) fails.
 */
const BROWSER_HEADERS = new Set(['host', 'connection', 'accept-encoding', 'content-length', 'upgrade-insecure-requests']);
const CHECKED_HEADERS = new Set(['accept', 'accept-language', 'user-agent', 'origin', 'referer', 'content-type', 'if-none-match', 'if-modified-since', 'cache-control', 'pragma']);

// ---------------------------------------------------------------- schema field rules

/** A check of one field's value; returns why it is refused, or null. */
type Pin = (value: unknown) => string | null;

interface ZodDef {
  typeName?: string;
  unknownKeys?: string;
  innerType?: ZodTypeAny;
  schema?: ZodTypeAny;
  shape?: () => Record<string, ZodTypeAny>;
}
const def = (s: ZodTypeAny): ZodDef => (s as unknown as { _def: ZodDef })._def;

/** Field types that can only hold a few values: they carry no free text. */
const BOUNDED = new Set(['ZodBoolean', 'ZodEnum', 'ZodLiteral', 'ZodNativeEnum']);

/**
 * Why `schema` cannot be trusted to carry nothing personal: not a strict object, or a
 * field that can hold free text / an open number / a container, with no pin for it.
 */
export function auditMessageSchema(schema: ZodTypeAny, pins: Readonly<Record<string, Pin>>): string[] {
  let s = schema;
  while (def(s).typeName === 'ZodEffects') s = def(s).schema!;
  if (def(s).typeName !== 'ZodObject') return [`schema is a ${def(s).typeName}, not an object`];
  const problems: string[] = [];
  if (def(s).unknownKeys !== 'strict') problems.push('schema is not strict (it would let unknown fields through)');
  for (const [key, field] of Object.entries(def(s).shape!())) {
    let f = field;
    while (['ZodOptional', 'ZodNullable', 'ZodDefault'].includes(def(f).typeName ?? '')) f = def(f).innerType!;
    const type = def(f).typeName ?? '?';
    if (BOUNDED.has(type) || key in pins) continue;
    problems.push(`field '${key}' (${type}) could carry free text or an arbitrary value and the allow-list pins no value for it`);
  }
  return problems;
}

/** Parses `value` with a strict protocol schema, applies the pins, and says what is wrong ([] when allowed). */
function checkMessage(what: string, schema: ZodTypeAny, value: unknown, pins: Readonly<Record<string, Pin>>): string[] {
  const audit = auditMessageSchema(schema, pins).map((p) => `${what}: ${p}`);
  if (audit.length > 0) return audit;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `${what} does not parse with the protocol schema: ${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`);
  }
  const out: string[] = [];
  for (const [key, pin] of Object.entries(pins)) {
    const v = (parsed.data as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const why = pin(v);
    if (why) out.push(`${what}.${key}: ${why}`);
  }
  return out;
}

const pinProtocolVersion: Pin = (v) => (v === PROTOCOL_VERSION ? null : `must be PROTOCOL_VERSION ${PROTOCOL_VERSION}, got ${JSON.stringify(v)}`);

/** Each client event's payload rule: its protocol schema and the pinned fields. */
const EVENT_RULES: Partial<Record<ClientEvent, { schema: ZodTypeAny; pins: Record<string, Pin> }>> = {
  [EVENTS.join]: { schema: JoinMessageSchema, pins: { protocolVersion: pinProtocolVersion } },
  [EVENTS.eligibility]: { schema: EligibilityMessageSchema, pins: {} },
};

// ---------------------------------------------------------------- helpers

function show(payload: string | Buffer | null, max = 240): string {
  if (payload === null) return '';
  if (typeof payload !== 'string' && isPrintable(payload)) return show(payload.toString('utf8'), max);
  if (typeof payload !== 'string') return `<${payload.length} binary bytes: ${payload.subarray(0, 24).toString('hex')}${payload.length > 24 ? '…' : ''}>`;
  return payload.length > max ? payload.slice(0, max) + '…' : payload;
}

function isPrintable(b: Buffer): boolean {
  return b.length > 0 && b.every((c) => c >= 32 || c === 9 || c === 10 || c === 13);
}

/** JSON exactly as JSON.stringify writes it; null when the text is not that. */
function canonicalJson(text: string): { value: unknown } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON (${(err as Error).message})` };
  }
  if (JSON.stringify(value) !== text) return { error: 'JSON not in the form JSON.stringify writes (extra spaces, duplicate keys or another number spelling)' };
  return { value };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The query of `url` when it has exactly the allowed keys, once each, in canonical form; else why not. */
function checkQuery(url: URL, allowed: Readonly<Record<string, (v: string) => boolean>>, required: readonly string[] = []): string | null {
  const keys = [...url.searchParams.keys()];
  if (new Set(keys).size !== keys.length) return `query parameter repeated in ${url.search}`;
  for (const k of keys) {
    const ok = allowed[k];
    if (!ok) return `query parameter '${k}' is not allowed here`;
    if (!ok(url.searchParams.get(k)!)) return `query parameter ${k}=${url.searchParams.get(k)} has a value not allowed here`;
  }
  for (const k of required) if (!url.searchParams.has(k)) return `query parameter '${k}' is missing`;
  if (url.search !== '' && url.search !== `?${url.searchParams.toString()}`) return `query ${url.search} is not in canonical form`;
  return null;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'));
}

// ---------------------------------------------------------------- what the coordinator told the page

interface Announced {
  /** Versions announced per model kind (welcome, model:version, round:start). */
  versions: Map<string, Set<number>>;
  /** Rounds opened for this page per kind, with the round's clip bound. */
  rounds: Map<string, Map<number, number>>;
}

const SOCKET_IO_EVENT = /^42(\/[^,]*),([\s\S]*)$/;

function announcedToPage(record: TrafficRecord): Announced {
  const versions = new Map<string, Set<number>>();
  const rounds = new Map<string, Map<number, number>>();
  const addVersion = (kind: string, v: number) => versions.set(kind, (versions.get(kind) ?? new Set()).add(v));
  for (const f of record.received) {
    const m = SOCKET_IO_EVENT.exec(f.payload);
    if (!m) continue;
    const kind = PROTOCOL_MODEL_KINDS.find((k) => modelNamespace(k as ModelKind) === m[1]);
    if (!kind) continue;
    let data: unknown;
    try {
      data = JSON.parse(m[2]);
    } catch {
      continue;
    }
    if (!Array.isArray(data)) continue;
    const [name, payload] = data as [unknown, unknown];
    if (name === EVENTS.welcome) {
      const w = WelcomeMessageSchema.safeParse(payload);
      if (w.success) addVersion(kind, w.data.version);
    } else if (name === EVENTS.modelVersion) {
      const v = ModelVersionMessageSchema.safeParse(payload);
      if (v.success) addVersion(kind, v.data.version);
    } else if (name === EVENTS.roundStart) {
      const r = RoundStartMessageSchema.safeParse(payload);
      if (r.success) {
        addVersion(kind, r.data.version);
        rounds.set(kind, (rounds.get(kind) ?? new Map()).set(r.data.round, r.data.config.clipNorm));
      }
    }
  }
  return { versions, rounds };
}

/** Tokens the coordinator issued in the POST /api/credentials responses the page received. */
function issuedTokens(record: TrafficRecord, extra: Iterable<string> = []): Set<string> {
  const out = new Set(extra);
  for (const r of record.responses) {
    if (r.method !== 'POST' || new URL(r.url).pathname !== '/api/credentials') continue;
    const c = CredentialResponseSchema.safeParse(r.json);
    if (c.success) out.add(c.data.token);
  }
  return out;
}

function servedModels(record: TrafficRecord, given?: ModelsResponse): ModelsResponse | null {
  if (given) return given;
  for (const r of [...record.responses].reverse()) {
    if (r.method !== 'GET' || new URL(r.url).pathname !== '/api/models') continue;
    const m = ModelsResponseSchema.safeParse(r.json);
    if (m.success) return m.data;
  }
  return null;
}

// ---------------------------------------------------------------- the classifier

interface Context {
  readonly origin: URL;
  readonly documents: Set<string>;
  readonly assets: Set<string>;
  readonly announced: Announced;
  readonly tokens: Set<string>;
  readonly models: ModelsResponse | null;
  readonly invite?: string;
  readonly validators: TrafficRecord['validators'];
}

/**
 * Every request and frame of `record` that is not on the allow-list, with why.
 * [] means everything the page sent had an allowed shape.
 */
export function classifySentTraffic(record: TrafficRecord, opts: AllowListOptions): Violation[] {
  const files = [...(opts.staticFiles ?? (opts.staticDir ? listFiles(opts.staticDir) : []))].map((f) => '/' + f.replace(/^\/+/, ''));
  if (files.length === 0) {
    return [{ where: 'allow-list', sent: '', why: 'no static files of the built app were given (staticFiles or staticDir): every asset request would fail' }];
  }
  const ctx: Context = {
    origin: new URL(opts.origin),
    documents: new Set(['/', ...files.filter((f) => f.endsWith('.html'))]),
    assets: new Set(files),
    announced: announcedToPage(record),
    tokens: issuedTokens(record, opts.tokens),
    models: servedModels(record, opts.models),
    invite: opts.invite,
    validators: record.validators,
  };
  const out: Violation[] = [];
  if (record.pending > 0) out.push({ where: 'capture', sent: '', why: `the headers of ${record.pending} request(s) were still being read: await traffic.settle() before checking` });
  const agreed = new Map<string, string>();
  for (const r of record.requests) out.push(...classifyRequest(r, ctx, agreed));
  const socketOk = new Map<number, boolean>();
  for (const s of record.sockets) {
    const why = checkSocketUrl(s.url, ctx);
    socketOk.set(s.id, why === null);
    if (why) out.push({ where: `ws#${s.id}`, sent: s.url, why });
  }
  const bySocket = new Map<number, { frame: CapturedFrame; index: number }[]>();
  record.frames.forEach((frame, index) => bySocket.set(frame.socket, [...(bySocket.get(frame.socket) ?? []), { frame, index }]));
  for (const [socket, frames] of bySocket) out.push(...classifySocketFrames(socket, frames, ctx));
  return out;
}

function classifyRequest(r: CapturedRequest, ctx: Context, agreed: Map<string, string>): Violation[] {
  const where = `${r.method} ${r.url}`;
  const v = (why: string, sent: string | Buffer | null = r.body): Violation => ({ where, sent: show(sent), why });
  let url: URL;
  try {
    url = new URL(r.url);
  } catch {
    return [v('unparseable URL')];
  }
  // data: and blob: URLs are read inside the browser; nothing leaves it.
  if ((url.protocol === 'data:' || url.protocol === 'blob:') && r.method === 'GET') return [];
  if (url.origin !== ctx.origin.origin) return [v(`sent to ${url.origin}, not the coordinator ${ctx.origin.origin}`)];
  if (url.username || url.password) return [v('URL carries user info')];
  const out: Violation[] = [];
  for (const why of checkHeaders(r, url, ctx, agreed)) out.push(v(why, null));

  if (r.method === 'POST' && url.pathname === '/api/credentials') {
    const q = checkQuery(url, {});
    if (q) out.push(v(q));
    const text = r.body?.toString('utf8') ?? '';
    const json = canonicalJson(text);
    if ('error' in json) out.push(v(`credential request body: ${json.error}`));
    else {
      const pins: Record<string, Pin> = {
        invite: (inv) => (ctx.invite !== undefined && inv === ctx.invite ? null : 'only the invite the test configured may be sent'),
      };
      for (const why of checkMessage('credential request', CredentialRequestSchema, json.value, pins)) out.push(v(why));
    }
    return out;
  }
  if (r.method !== 'GET') return [...out, v(`${r.method} is allowed only as POST /api/credentials`)];
  if (r.body && r.body.length > 0) out.push(v('GET with a body'));
  const why = classifyGetPath(url, ctx);
  if (why) out.push(v(why, null));
  return out;
}

/** Why a GET of this URL is not allowed, or null. */
function classifyGetPath(url: URL, ctx: Context): string | null {
  const p = url.pathname;
  if (ctx.documents.has(p)) return checkQuery(url, { backend: (b) => BackendNameSchema.safeParse(b).success });
  if (ctx.assets.has(p)) return checkQuery(url, {});
  if (['/api/catalog', '/api/models', '/api/health'].includes(p)) return checkQuery(url, {});
  for (const kind of PROTOCOL_MODEL_KINDS) {
    const k = kind as ModelKind;
    if (p === modelApiPath(k) || p === weightsApiPath(k, 'latest')) return checkQuery(url, {});
    const prefix = weightsApiPath(k, 0).replace(/0$/, '');
    if (p.startsWith(prefix)) {
      const n = p.slice(prefix.length);
      if (!/^(?:0|[1-9]\d{0,9})$/.test(n)) return `weights version '${n}' is not a canonical version number`;
      if (!ctx.announced.versions.get(kind)?.has(Number(n))) {
        return `weights version ${n} of ${kind} was never announced to this page (announced: ${[...(ctx.announced.versions.get(kind) ?? [])].join(', ') || 'none'})`;
      }
      return checkQuery(url, {});
    }
  }
  return `GET ${p} is not a path of the app or the API the page uses`;
}

function checkHeaders(r: CapturedRequest, url: URL, ctx: Context, agreed: Map<string, string>): string[] {
  const out: string[] = [];
  const isCredentialPost = r.method === 'POST' && url.pathname === '/api/credentials';
  for (const [rawName, value] of Object.entries(r.headers)) {
    const name = rawName.toLowerCase();
    if (name.startsWith('sec-') || BROWSER_HEADERS.has(name)) {
      if (name === 'host' && value !== ctx.origin.host) out.push(`header host: ${value} is not ${ctx.origin.host}`);
      if (name === 'upgrade-insecure-requests' && value !== '1') out.push(`header upgrade-insecure-requests: ${value}`);
      if (name === 'content-length' && value !== String(r.body?.length ?? 0)) out.push(`header content-length: ${value} does not match the body`);
      continue;
    }
    if (!CHECKED_HEADERS.has(name)) {
      out.push(`header '${name}' is not on the allow-list (value ${JSON.stringify(value.slice(0, 120))})`);
      continue;
    }
    switch (name) {
      case 'accept':
        if (r.resourceType !== 'document' && !BROWSER_ACCEPTS.has(value)) out.push(`header accept: ${JSON.stringify(value)} is not a value the browser sets`);
        break;
      case 'accept-language':
      case 'user-agent': {
        const first = agreed.get(name);
        if (first === undefined) agreed.set(name, value);
        else if (first !== value) out.push(`header ${name}: ${JSON.stringify(value)} differs from the page's first one ${JSON.stringify(first)}`);
        break;
      }
      case 'origin':
        if (value !== ctx.origin.origin) out.push(`header origin: ${value} is not ${ctx.origin.origin}`);
        break;
      case 'referer': {
        if (value === '') break; // sent empty (e.g. no-referrer policy): carries nothing
        let ref: URL | null = null;
        try {
          ref = new URL(value);
        } catch {
          /* reported below */
        }
        const why = !ref ? 'unparseable' : ref.origin !== ctx.origin.origin || !ctx.documents.has(ref.pathname) ? 'not a page of the app' : checkQuery(ref, { backend: (b) => BackendNameSchema.safeParse(b).success });
        if (why) out.push(`header referer: ${value}: ${why}`);
        break;
      }
      case 'if-none-match':
      case 'if-modified-since': {
        // A revalidation: only a validator the coordinator sent for this very URL.
        const key = name === 'if-none-match' ? 'etag' : 'lastModified';
        if (!ctx.validators.some((c) => c.url === r.url && c[key] === value)) out.push(`header ${name}: ${JSON.stringify(value.slice(0, 120))} is not a validator the coordinator sent for this URL`);
        break;
      }
      case 'cache-control':
      case 'pragma':
        // Chromium adds these to a reload's navigation (a page cannot set headers on a navigation).
        if (r.resourceType !== 'document' || !['max-age=0', 'no-cache'].includes(value)) out.push(`header ${name}: ${JSON.stringify(value.slice(0, 120))} (only a reload's navigation carries one)`);
        break;
      case 'content-type':
        if (!(isCredentialPost && value === 'application/json')) out.push(`header content-type: ${JSON.stringify(value)} (only the credential POST sends one: application/json)`);
        break;
    }
  }
  return out;
}

function checkSocketUrl(raw: string, ctx: Context): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'unparseable WebSocket URL';
  }
  const scheme = ctx.origin.protocol === 'https:' ? 'wss:' : 'ws:';
  if (url.protocol !== scheme || url.host !== ctx.origin.host) return `WebSocket to ${url.protocol}//${url.host}, not the coordinator`;
  if (url.pathname !== '/socket.io/') return `WebSocket path ${url.pathname} is not /socket.io/`;
  return checkQuery(url, { EIO: (v) => v === '4', transport: (v) => v === 'websocket' }, ['EIO', 'transport']);
}

/** socket.io packet inside an engine.io message: type, attachments, namespace, ack id, data. */
const SOCKET_IO_PACKET = /^([0-9])(?:(\d+)-)?(?:(\/[^,]*),)?(\d+)?([\s\S]*)$/;

function classifySocketFrames(socket: number, frames: { frame: CapturedFrame; index: number }[], ctx: Context): Violation[] {
  const out: Violation[] = [];
  /** Set by a BINARY_EVENT: the model kind whose update the next frame must be. */
  let awaiting: { kind: string; at: number } | null = null;
  for (const { frame, index } of frames) {
    const where = `ws#${socket} frame ${index} (${typeof frame.payload === 'string' ? 'text' : 'binary'})`;
    const v = (why: string): Violation => ({ where, sent: show(frame.payload), why });
    if (typeof frame.payload !== 'string') {
      if (!awaiting) {
        out.push(v('binary frame not announced by an update BINARY_EVENT'));
        continue;
      }
      const why = checkUpdateAttachment(frame.payload, awaiting.kind, ctx);
      if (why) out.push(v(why));
      awaiting = null;
      continue;
    }
    if (awaiting) {
      out.push(v(`text frame where the binary attachment of the BINARY_EVENT at frame ${awaiting.at} was due`));
      awaiting = null;
    }
    const text = frame.payload;
    const engineType = text[0];
    const rest = text.slice(1);
    if (engineType === '2' || engineType === '3') {
      if (rest !== '' && rest !== 'probe') out.push(v(`engine.io ${engineType === '2' ? 'ping' : 'pong'} must be empty or "probe"`));
      continue;
    }
    if (engineType === '5') {
      if (rest !== '') out.push(v('engine.io upgrade must be empty'));
      continue;
    }
    if (engineType !== '4') {
      out.push(v(`engine.io packet type ${JSON.stringify(engineType ?? '')} is not one a participant sends (ping, pong, upgrade, message)`));
      continue;
    }
    const m = SOCKET_IO_PACKET.exec(rest);
    if (!m) {
      out.push(v('not a socket.io packet'));
      continue;
    }
    const [, type, attachments, nsp, ackId, data] = m;
    const kind = PROTOCOL_MODEL_KINDS.find((k) => modelNamespace(k as ModelKind) === nsp);
    if (!kind) {
      out.push(v(`socket.io namespace ${nsp ?? '/'} is not a model namespace (${PROTOCOL_MODEL_KINDS.map((k) => modelNamespace(k as ModelKind)).join(', ')})`));
      continue;
    }
    if (ackId !== undefined) {
      out.push(v('socket.io acknowledgement id: the participant never asks for one'));
      continue;
    }
    if (attachments !== undefined && type !== '5') {
      out.push(v(`attachment count on a socket.io packet of type ${type}`));
      continue;
    }
    switch (type) {
      case '0': {
        const json = canonicalJson(data);
        if ('error' in json) {
          out.push(v(`CONNECT auth: ${json.error}`));
          break;
        }
        const pins: Record<string, Pin> = {
          token: (t) => (ctx.tokens.has(t as string) ? null : ctx.tokens.size === 0 ? 'no credential was issued to this page (no POST /api/credentials response captured)' : 'not a credential the coordinator issued to this page'),
        };
        for (const why of checkMessage('CONNECT auth', HandshakeAuthSchema, json.value, pins)) out.push(v(why));
        break;
      }
      case '1':
        if (data !== '') out.push(v('DISCONNECT must carry nothing'));
        break;
      case '2': {
        const why = checkEvent(data);
        if (why.length) out.push(...why.map(v));
        break;
      }
      case '5': {
        const json = canonicalJson(data);
        if ('error' in json) out.push(v(`BINARY_EVENT: ${json.error}`));
        else if (attachments !== '1' || !sameJson(json.value, [EVENTS.update, UPDATE_PLACEHOLDER])) {
          out.push(v(`BINARY_EVENT must be exactly 451-${nsp},${JSON.stringify([EVENTS.update, UPDATE_PLACEHOLDER])}`));
        } else awaiting = { kind, at: index };
        break;
      }
      default:
        out.push(v(`socket.io packet type ${type} is not one a participant sends (CONNECT, DISCONNECT, EVENT, BINARY_EVENT)`));
    }
  }
  return out;
}

function checkEvent(data: string): string[] {
  const json = canonicalJson(data);
  if ('error' in json) return [`EVENT: ${json.error}`];
  const arr = json.value;
  if (!Array.isArray(arr) || arr.length !== 2 || typeof arr[0] !== 'string') return ['EVENT must be [name, payload]'];
  const [name, payload] = arr as [string, unknown];
  if (!(CLIENT_EVENTS as readonly string[]).includes(name)) return [`event '${name}' is not in CLIENT_EVENTS (${CLIENT_EVENTS.join(', ')})`];
  if (name === EVENTS.update) return ['update must be a BINARY_EVENT with one binary attachment, not JSON'];
  const rule = EVENT_RULES[name as ClientEvent];
  if (!rule) return [`client event '${name}' has no rule in the allow-list`];
  return checkMessage(`${name} payload`, rule.schema, payload, rule.pins);
}

/** Why this binary attachment is not an allowed update of `kind`, or null. */
function checkUpdateAttachment(bytes: Buffer, kind: string, ctx: Context): string | null {
  let update;
  try {
    update = decodeUpdate(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    return `update attachment does not decode as a ModelUpdate: ${(err as Error).message}`;
  }
  const clip = ctx.announced.rounds.get(kind)?.get(update.round);
  if (clip === undefined) return `update for ${kind} round ${update.round}, a round never opened for this page`;
  if (!ctx.announced.versions.get(kind)?.has(update.baseVersion)) return `update based on ${kind} version ${update.baseVersion}, never announced to this page`;
  const info = ctx.models?.models.find((m) => m.model.kind === kind);
  if (!info) return `update for ${kind}, but the models the coordinator serves are unknown (no GET /api/models response captured) or do not include it`;
  const spec: ModelSpec = { kind, params: info.params.map((p) => ({ name: p.name, shape: p.shape, scope: p.scope, init: { kind: 'zeros' } })) };
  try {
    checkUpdateAgainstSpec(spec, update, clip);
  } catch (err) {
    return `update is not a well-formed ${kind} update: ${(err as Error).message}`;
  }
  return null;
}
