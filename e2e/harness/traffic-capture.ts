import type { Page, Request, Response, WebSocket } from 'playwright-core';

export interface CapturedRequest {
  readonly url: string;
  readonly method: string;
  readonly body: Buffer | null;
  /** Playwright's resource type: 'document', 'script', 'fetch', 'ping' (sendBeacon), … */
  readonly resourceType: string;
  /**
   * Every header the browser sent, names lower-case. Filled at once with what Playwright
   * knows synchronously, then replaced by the complete set (cookies included) when it is read.
   */
  headers: Record<string, string>;
}

export interface CapturedSocket {
  /** Index of the WebSocket in the order the page opened them. */
  readonly id: number;
  readonly url: string;
}

export interface CapturedFrame {
  /** The WebSocket it was sent on (CapturedSocket.id): frames of different sockets interleave. */
  readonly socket: number;
  readonly url: string;
  /** string for text frames, Buffer for binary ones */
  readonly payload: string | Buffer;
}

/** A text frame the page RECEIVED: what the coordinator announced (versions, rounds, engine.io session). */
export interface ReceivedFrame {
  readonly socket: number;
  readonly payload: string;
}

/** The JSON body of a response the allow-list needs: the issued credential and the served models. */
export interface CapturedResponse {
  readonly url: string;
  readonly method: string;
  readonly status: number;
  readonly json: unknown;
}

/** Cache validators a response carried: a browser revalidating the URL sends them back (if-none-match, if-modified-since). */
export interface CacheValidators {
  readonly url: string;
  readonly etag?: string;
  readonly lastModified?: string;
}

/** Plain data (no Playwright objects): what the privacy check classifies. Unit tests build one by hand. */
export interface TrafficRecord {
  readonly requests: readonly CapturedRequest[];
  readonly sockets: readonly CapturedSocket[];
  readonly frames: readonly CapturedFrame[];
  readonly received: readonly ReceivedFrame[];
  readonly responses: readonly CapturedResponse[];
  readonly validators: readonly CacheValidators[];
  /**
   * Requests whose complete headers (cookies included) are still being read: the check
   * refuses to pass while any are. (Response bodies still unread are not counted: a
   * credential the check never saw issued is refused anyway.)
   */
  readonly pending: number;
}

export interface TrafficCapture extends TrafficRecord {
  readonly requests: CapturedRequest[];
  readonly frames: CapturedFrame[];
  /**
   * Resolves once every header set and response body started so far has been read, or
   * after `timeoutMs` (default 10 s): a body the page never reads may never arrive.
   */
  settle(timeoutMs?: number): Promise<void>;
  /** A copy of the record as it stands (later traffic is not added to it). */
  snapshot(): TrafficRecord;
  /** Every payload as text: URLs, request bodies, frames (binary decoded as latin1). */
  texts(): { where: string; text: string; binary: boolean }[];
  totalBytesSent(): number;
  /** A readable record of what left the page (text payloads truncated, binary as sizes), for artifacts. */
  summary(): { requests: { method: string; url: string; bodyBytes: number }[]; frames: { url: string; text?: string; binaryBytes?: number }[] };
}

/** Responses whose bodies the allow-list reads (the credential issued to the page, the models it was told about). */
const RESPONSES_READ = /^\/api\/(?:credentials|models)$/;

/**
 * Records everything a page SENDS: every HTTP request (URL, method, headers, body),
 * every WebSocket it opens and every frame it sends on one. Also keeps what the
 * allow-list needs to know from the other direction: the text frames the page
 * receives (announced versions and rounds), the bodies of POST /api/credentials
 * and GET /api/models, and the cache validators (ETag, Last-Modified) of responses. Attach before navigation so nothing escapes the record.
 *
 * Not seen here: WebSockets and requests of service or shared workers, WebRTC, and
 * the headers of the WebSocket handshake (Playwright does not report them).
 */
export function captureTraffic(page: Page): TrafficCapture {
  const requests: CapturedRequest[] = [];
  const sockets: CapturedSocket[] = [];
  const frames: CapturedFrame[] = [];
  const received: ReceivedFrame[] = [];
  const responses: CapturedResponse[] = [];
  const validators: CacheValidators[] = [];
  // Header reads in flight (until read, a request's headers lack cookies) and response bodies being read.
  // An unread response body only hides a credential from the check, which then refuses its use: no need to wait for it.
  const headerReads = new Set<Promise<unknown>>();
  const bodyReads = new Set<Promise<unknown>>();
  const track = (set: Set<Promise<unknown>>, p: Promise<unknown>): void => {
    const done = p.catch(() => undefined).finally(() => set.delete(done));
    set.add(done);
  };

  page.on('request', (req: Request) => {
    let body: Buffer | null = null;
    try {
      body = req.postDataBuffer();
    } catch {
      body = null;
    }
    const rec: CapturedRequest = { url: req.url(), method: req.method(), body, resourceType: req.resourceType(), headers: { ...req.headers() } };
    requests.push(rec);
    track(headerReads, req.allHeaders().then((h) => void (rec.headers = { ...h })));
  });
  page.on('response', (res: Response) => {
    const req = res.request();
    const h = res.headers();
    if (h.etag !== undefined || h['last-modified'] !== undefined) validators.push({ url: res.url(), etag: h.etag, lastModified: h['last-modified'] });
    let pathname: string;
    try {
      pathname = new URL(res.url()).pathname;
    } catch {
      return;
    }
    if (!RESPONSES_READ.test(pathname)) return;
    track(
      bodyReads,
      res
        .json()
        .catch(() => null)
        .then((json: unknown) => void responses.push({ url: res.url(), method: req.method(), status: res.status(), json })),
    );
  });
  page.on('websocket', (ws: WebSocket) => {
    const id = sockets.length;
    sockets.push({ id, url: ws.url() });
    ws.on('framesent', (f) => frames.push({ socket: id, url: ws.url(), payload: f.payload }));
    ws.on('framereceived', (f) => {
      if (typeof f.payload === 'string') received.push({ socket: id, payload: f.payload });
    });
  });

  const capture: TrafficCapture = {
    requests,
    sockets,
    frames,
    received,
    responses,
    validators,
    get pending() {
      return headerReads.size;
    },
    async settle(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (headerReads.size + bodyReads.size > 0 && Date.now() < deadline) {
        const all = Promise.all([...headerReads, ...bodyReads]);
        await Promise.race([all, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      }
    },
    snapshot() {
      return {
        requests: requests.map((r) => ({ ...r, headers: { ...r.headers } })),
        sockets: [...sockets],
        frames: [...frames],
        received: [...received],
        responses: [...responses],
        validators: [...validators],
        pending: headerReads.size,
      };
    },
    texts() {
      const out: { where: string; text: string; binary: boolean }[] = [];
      for (const r of requests) {
        out.push({ where: `${r.method} ${r.url} (url)`, text: decodeUrl(r.url), binary: false });
        if (r.body && r.body.length > 0) {
          out.push({ where: `${r.method} ${r.url} (body)`, text: r.body.toString('latin1'), binary: !isText(r.body) });
        }
      }
      for (const f of frames) {
        if (typeof f.payload === 'string') out.push({ where: `ws ${f.url} (text frame)`, text: f.payload, binary: false });
        else out.push({ where: `ws ${f.url} (binary frame, ${f.payload.length} B)`, text: f.payload.toString('latin1'), binary: true });
      }
      return out;
    },
    summary() {
      return {
        requests: requests.map((r) => ({ method: r.method, url: r.url, bodyBytes: r.body?.length ?? 0 })),
        frames: frames.map((f) =>
          typeof f.payload === 'string'
            ? { url: f.url, text: f.payload.length > 500 ? f.payload.slice(0, 500) + '…' : f.payload }
            : { url: f.url, binaryBytes: f.payload.length },
        ),
      };
    },
    totalBytesSent() {
      let n = 0;
      for (const r of requests) n += r.body?.length ?? 0;
      for (const f of frames) n += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length;
      return n;
    },
  };
  return capture;
}

/** The URL with percent-escapes decoded (so `%22rating%22` is found too); raw when malformed. */
export function decodeUrl(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

function isText(b: Buffer): boolean {
  for (let i = 0; i < Math.min(b.length, 512); i++) {
    const c = b[i];
    if (c < 9 || (c > 13 && c < 32)) return false;
  }
  return true;
}
