import { InvalidArgumentError, Option, type Command } from 'commander';
import { FlockError } from '../../shared/errors.ts';
import { DEFAULT_SERVE_CONFIG as D, type ServeConfig } from '../serve-config.ts';
import { parseOriginList } from './allowed-origins.ts';
import { formatRateSpec, parseRateSpec, type RateSpec } from './rate-spec.ts';

/** A FlockError from a parser as commander's usage error. */
const usage = <T>(parse: (v: string) => T) => (v: string): T => {
  try {
    return parse(v);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof FlockError ? err.message : String(err));
  }
};

const count = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer ≥ ${min}`);
  return n;
};

const messageRate = (v: string) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+))?\s*$/.exec(v);
  const perSecond = m ? Number(m[1]) : NaN;
  const burst = m?.[2] !== undefined ? Number(m[2]) : 2 * perSecond;
  if (!m || !(perSecond > 0) || !(burst >= 1)) throw new InvalidArgumentError('--message-rate must be PER_SECOND[/BURST], e.g. 20/40');
  return { perSecond, burst };
};

const rateOption = (flags: string, description: string, value: RateSpec) =>
  new Option(flags, description).argParser(usage((v) => parseRateSpec(v, flags.split(' ')[0]))).default(value, formatRateSpec(value));

/** The `flock serve` flags of identity, the edge and metrics. */
export function edgeServeOptions(cmd: Command): Command {
  return cmd
    .option('--allowed-origins <list>', 'origins whose pages may use the coordinator (sockets, REST from a browser), comma-separated; default: its own http://<host>:<port> (127.0.0.1 and localhost stand in for each other)', usage((v) => parseOriginList(v)))
    .option('--invite-secret <s>', 'require this invite in POST /api/credentials (or env FLOCK_INVITE_SECRET; the env keeps it out of `ps`)')
    .option('--operator-token <t>', 'bearer token for /api/admin (or env FLOCK_OPERATOR_TOKEN); default: generated into <data-dir>/operator-token')
    .option('--credential-ttl <days>', 'lifetime of an issued participant credential, in days', count('--credential-ttl', 1), D.credentialTtlSeconds / 86_400)
    .addOption(rateOption('--credential-rate <n/window>', 'POST /api/credentials allowed per client address, e.g. 30/10m (a request with the operator token is not limited)', D.credentialRate))
    .addOption(rateOption('--api-rate <n/window>', 'other /api requests allowed per client address, e.g. 1200/1m', D.apiRate))
    .addOption(new Option('--message-rate <r[/burst]>', 'socket messages per second one connection may send, and at once').argParser(messageRate).default(D.messageRate, `${D.messageRate.perSecond}/${D.messageRate.burst}`))
    .option('--max-connections-per-address <n>', 'open socket connections per client address (0 = no cap)', count('--max-connections-per-address', 0), D.maxConnectionsPerAddress)
    .option('--heartbeat-interval <ms>', 'socket.io ping interval', count('--heartbeat-interval', 1000), D.heartbeatIntervalMs)
    .option('--heartbeat-timeout <ms>', 'close a connection that has not answered a ping within this', count('--heartbeat-timeout', 1000), D.heartbeatTimeoutMs)
    .option('--trust-proxy <hops>', 'reverse proxies in front of the coordinator whose X-Forwarded-For is believed (0 = none)', count('--trust-proxy', 0), D.trustProxy);
}

/** The part of ServeConfig those flags set (secrets from the environment when not given). */
export function edgeServeConfig(o: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Partial<ServeConfig> {
  const invite = (o.inviteSecret as string | undefined) ?? (env.FLOCK_INVITE_SECRET || undefined);
  const token = (o.operatorToken as string | undefined) ?? (env.FLOCK_OPERATOR_TOKEN || undefined);
  return {
    ...(o.allowedOrigins ? { allowedOrigins: o.allowedOrigins as string[] } : {}),
    ...(invite !== undefined ? { inviteSecret: invite } : {}),
    ...(token !== undefined ? { operatorToken: token } : {}),
    credentialTtlSeconds: Number(o.credentialTtl) * 86_400,
    credentialRate: o.credentialRate as ServeConfig['credentialRate'],
    apiRate: o.apiRate as ServeConfig['apiRate'],
    messageRate: o.messageRate as ServeConfig['messageRate'],
    maxConnectionsPerAddress: o.maxConnectionsPerAddress as number,
    heartbeatIntervalMs: o.heartbeatInterval as number,
    heartbeatTimeoutMs: o.heartbeatTimeout as number,
    trustProxy: o.trustProxy as number,
  };
}

