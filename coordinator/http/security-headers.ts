import helmet from 'helmet';
import type { RequestHandler } from 'express';

/**
 * Security headers on every response (helmet), with a Content-Security-Policy that lets
 * the web app do exactly what it does: load its own scripts, styles and wasm binaries
 * (compiling wasm needs 'wasm-unsafe-eval', nothing needs 'unsafe-eval'), fetch and open
 * its websocket to its own origin ('self' covers ws: of the same host), and nothing else.
 *
 * No HSTS and no upgrade-insecure-requests: the coordinator speaks plain HTTP (on
 * loopback, or behind a TLS proxy that sets HSTS itself); upgrading its own requests
 * to https would break every page it serves.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        workerSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: false,
  }) as RequestHandler;
}
