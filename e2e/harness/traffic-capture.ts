import type { Page } from 'playwright-core';

export interface CapturedRequest {
  readonly url: string;
  readonly method: string;
  readonly body: Buffer | null;
}

export interface CapturedFrame {
  readonly url: string;
  /** string for text frames, Buffer for binary ones */
  readonly payload: string | Buffer;
}

export interface TrafficCapture {
  readonly requests: CapturedRequest[];
  readonly frames: CapturedFrame[];
  /** Every payload as text: URLs, request bodies, frames (binary decoded as latin1). */
  texts(): { where: string; text: string; binary: boolean }[];
  totalBytesSent(): number;
  /** A readable record of what left the page (text payloads truncated, binary as sizes), for artifacts. */
  summary(): { requests: { method: string; url: string; bodyBytes: number }[]; frames: { url: string; text?: string; binaryBytes?: number }[] };
}

/**
 * Records everything a page SENDS: every HTTP request (URL, method, body) and every
 * WebSocket frame it sends. Attach before navigation so nothing escapes the record.
 * Note: socket.io may fall back to HTTP long-polling; those POST bodies are requests
 * and are captured too.
 */
export function captureTraffic(page: Page): TrafficCapture {
  const requests: CapturedRequest[] = [];
  const frames: CapturedFrame[] = [];
  page.on('request', (req) => {
    let body: Buffer | null = null;
    try {
      body = req.postDataBuffer();
    } catch {
      body = null;
    }
    requests.push({ url: req.url(), method: req.method(), body });
  });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.push({ url: ws.url(), payload: f.payload }));
  });
  return {
    requests,
    frames,
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
}

/** The URL with percent-escapes decoded (so `%22rating%22` is found too); raw when malformed. */
function decodeUrl(url: string): string {
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
