import express, { type ErrorRequestHandler, type RequestHandler } from 'express';

/** The largest JSON body any route of the coordinator accepts. */
export const MAX_JSON_BODY_BYTES = 1024;

/** Parses a JSON body of at most `limit` bytes (only with Content-Type application/json). */
export const jsonBody = (limit = MAX_JSON_BODY_BYTES): RequestHandler => express.json({ limit, strict: true });

/**
 * Turns body-parser failures into the API's error shape: 413 too-large for a body over
 * the limit, 400 malformed for one that is not JSON. Other errors pass on.
 */
export const jsonBodyErrors: ErrorRequestHandler = (err, _req, res, next) => {
  const e = err as { type?: string; limit?: number };
  if (e.type === 'entity.too.large') {
    res.status(413).json({ error: { code: 'too-large', message: `request body over ${e.limit ?? MAX_JSON_BODY_BYTES} bytes` } });
    return;
  }
  if (e.type === 'entity.parse.failed' || e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    res.status(400).json({ error: { code: 'malformed', message: 'request body is not valid JSON' } });
    return;
  }
  next(err);
};
