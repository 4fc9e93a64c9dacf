import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, decodeProtectedHeader, errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import type { Logger } from 'pino';
import { z } from 'zod';
import { FlockError } from '../../shared/errors.ts';
import { CredentialSchema, ParticipantIdSchema, type CredentialResponse } from '../../shared/protocol/messages.ts';
import { readableByOthers, writeSecretFile } from './secret-file.ts';

/** The one signature algorithm credentials use; every other `alg` is refused. */
export const CREDENTIAL_ALG = 'EdDSA';
export const CREDENTIAL_ISSUER = 'flock-coordinator';
export const CREDENTIAL_AUDIENCE = 'flock-participant';
export const DEFAULT_CREDENTIAL_TTL_SECONDS = 30 * 24 * 3600;

const FORMAT = 'flock-credential-keys/1';
const ASK_AGAIN = 'request a new one with POST /api/credentials';

const Ed25519JwkSchema = z
  .object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().min(1), d: z.string().min(1).optional() })
  .strict();
const KeyRecordSchema = z
  .object({
    kid: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    createdAt: z.number().int().nonnegative(),
    retiredAt: z.number().int().nonnegative().optional(),
    publicJwk: Ed25519JwkSchema,
    /** Present while the key may sign; dropped when it is retired. */
    privateJwk: Ed25519JwkSchema.optional(),
  })
  .strict();
type KeyRecord = z.infer<typeof KeyRecordSchema>;
const KeyFileSchema = z.object({ format: z.literal(FORMAT), keys: z.array(KeyRecordSchema).min(1) }).strict();

/** What `flock keys list` and the admin API show of a key: never its private half. */
export interface SigningKeyInfo {
  readonly kid: string;
  /** ms since epoch */
  readonly createdAt: number;
  readonly retiredAt?: number;
  /** The key new credentials are signed with (the newest one not retired). */
  readonly signing: boolean;
}

export interface CredentialIssuerOptions {
  /** Lifetime of a credential (default 30 days). */
  readonly ttlSeconds?: number;
  /** Clock in ms (tests); Date.now by default. */
  readonly now?: () => number;
}

type CryptoKeyLike = Awaited<ReturnType<typeof importJWK>>;

/** The credential signing keys of one data dir: `<dataDir>/identity/keys.json`, mode 0600. */
export const credentialKeysFile = (dataDir: string): string => path.join(dataDir, 'identity', 'keys.json');

const kidOf = async (publicJwk: JWK): Promise<string> => (await calculateJwkThumbprint(publicJwk, 'sha256')).slice(0, 16);

async function newKeyRecord(now: number): Promise<KeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(CREDENTIAL_ALG, { crv: 'Ed25519', extractable: true });
  const pub = await exportJWK(publicKey);
  const priv = await exportJWK(privateKey);
  const publicJwk = { kty: 'OKP' as const, crv: 'Ed25519' as const, x: String(pub.x) };
  return { kid: await kidOf(publicJwk), createdAt: now, publicJwk, privateJwk: { ...publicJwk, d: String(priv.d) } };
}

/**
 * Issues and verifies participant credentials (DESIGN.md, "Trust model": identity
 * comes from a credential the coordinator issued, never from a message). A credential
 * is a JWT signed with Ed25519 (EdDSA) carrying a fresh random participant id as `sub`,
 * `iat`, `exp`, issuer and audience, and the `kid` of its signing key in the header.
 *
 * The keys live in `<dataDir>/identity/keys.json` (0600, replaced atomically). `rotate()`
 * adds a new signing key; older keys keep verifying until `retire(kid)` drops them.
 * Changes made by another process (`flock keys …` while the coordinator runs) are
 * picked up on the next issue or verify.
 */
export class CredentialIssuer {
  private records: KeyRecord[] = [];
  private readonly keys = new Map<string, { publicKey: CryptoKeyLike; privateKey?: CryptoKeyLike }>();
  private fileStamp = '';
  private chain: Promise<unknown> = Promise.resolve();
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  private constructor(readonly file: string, private readonly log: Logger, opts: CredentialIssuerOptions) {
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_CREDENTIAL_TTL_SECONDS;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 60) throw new FlockError('bad-config', `credential lifetime must be a whole number of seconds ≥ 60, got ${this.ttlSeconds}`);
    this.now = opts.now ?? Date.now;
  }

  /** Opens the keys of `dataDir`, generating the first signing key when there are none. */
  static async open(dataDir: string, log: Logger, opts: CredentialIssuerOptions = {}): Promise<CredentialIssuer> {
    const issuer = new CredentialIssuer(credentialKeysFile(dataDir), log, opts);
    const found = await issuer.load();
    if (!found) {
      await issuer.save([await newKeyRecord(issuer.now())]);
      log.info({ file: issuer.file, kid: issuer.signer().kid }, 'generated a credential signing key');
    } else if (await readableByOthers(issuer.file)) {
      log.warn({ file: issuer.file }, 'the credential keys file is readable by other users: chmod 600 it');
    }
    return issuer;
  }

  /** Every key, oldest first. */
  async list(): Promise<SigningKeyInfo[]> {
    await this.refresh();
    const signing = this.signer().kid;
    return this.records.map((r) => ({ kid: r.kid, createdAt: r.createdAt, ...(r.retiredAt !== undefined ? { retiredAt: r.retiredAt } : {}), signing: r.kid === signing }));
  }

  /** Adds a new signing key; credentials signed by the older ones keep verifying until they are retired. */
  rotate(): Promise<SigningKeyInfo> {
    return this.serial(async () => {
      await this.refresh();
      const record = await newKeyRecord(this.now());
      await this.save([...this.records, record]);
      this.log.info({ kid: record.kid, file: this.file }, 'credential signing key rotated');
      return { kid: record.kid, createdAt: record.createdAt, signing: true };
    });
  }

  /**
   * Retires a key: credentials it signed are refused from now on and its private half
   * is deleted. The signing key cannot be retired (rotate first).
   */
  retire(kid: string): Promise<SigningKeyInfo> {
    return this.serial(async () => {
      await this.refresh();
      const record = this.records.find((r) => r.kid === kid);
      if (!record) throw new FlockError('not-found', `no credential key '${kid}' (known: ${this.records.map((r) => r.kid).join(', ')})`);
      if (record.kid === this.signer().kid) throw new FlockError('bad-config', `key '${kid}' signs new credentials: rotate first (flock keys rotate), then retire it`);
      if (record.retiredAt !== undefined) return { kid, createdAt: record.createdAt, retiredAt: record.retiredAt, signing: false };
      const retiredAt = this.now();
      const { privateJwk: _dropped, ...kept } = record;
      await this.save(this.records.map((r) => (r.kid === kid ? { ...kept, retiredAt } : r)));
      this.log.info({ kid, file: this.file }, 'credential signing key retired');
      return { kid, createdAt: record.createdAt, retiredAt, signing: false };
    });
  }

  /** A new identity: a random participant id inside a signed credential. */
  async issue(): Promise<CredentialResponse> {
    await this.refresh();
    const key = this.signer();
    const privateKey = this.keys.get(key.kid)?.privateKey;
    if (!privateKey) throw new FlockError('store-damaged', `${this.file}: signing key '${key.kid}' has no private half`);
    const participantId = randomBytes(18).toString('base64url');
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.ttlSeconds;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: CREDENTIAL_ALG, kid: key.kid, typ: 'JWT' })
      .setSubject(participantId)
      .setIssuer(CREDENTIAL_ISSUER)
      .setAudience(CREDENTIAL_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(privateKey);
    return { token, participantId, expiresAt: exp * 1000 };
  }

  /** The participant a credential names; FlockError('unauthorized') for anything wrong with it. */
  async verify(token: unknown): Promise<{ participantId: string }> {
    if (token === undefined || token === null || token === '') throw new FlockError('unauthorized', `no credential: ${ASK_AGAIN} and present its token`);
    if (!CredentialSchema.safeParse(token).success) throw new FlockError('unauthorized', `the credential is not a signed token: ${ASK_AGAIN}`);
    await this.refresh();
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token as string).kid;
    } catch {
      throw new FlockError('unauthorized', `the credential's header is unreadable: ${ASK_AGAIN}`);
    }
    const record = typeof kid === 'string' ? this.records.find((r) => r.kid === kid) : undefined;
    if (!record) throw new FlockError('unauthorized', `the credential was signed by a key this coordinator does not know: ${ASK_AGAIN}`);
    if (record.retiredAt !== undefined) throw new FlockError('unauthorized', `the credential was signed by a retired key: ${ASK_AGAIN}`);
    const publicKey = this.keys.get(record.kid)!.publicKey;
    let payload;
    try {
      ({ payload } = await jwtVerify(token as string, publicKey, {
        algorithms: [CREDENTIAL_ALG],
        issuer: CREDENTIAL_ISSUER,
        audience: CREDENTIAL_AUDIENCE,
        requiredClaims: ['sub', 'iat', 'exp'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      throw new FlockError('unauthorized', `${verifyFailure(err)}: ${ASK_AGAIN}`);
    }
    const participantId = ParticipantIdSchema.safeParse(payload.sub);
    if (!participantId.success) throw new FlockError('unauthorized', `the credential names no valid participant: ${ASK_AGAIN}`);
    return { participantId: participantId.data };
  }

  // ------------------------------------------------------------------ storage

  private signer(): KeyRecord {
    const active = this.records.filter((r) => r.retiredAt === undefined && r.privateJwk);
    const newest = active[active.length - 1];
    if (!newest) throw new FlockError('store-damaged', `${this.file} holds no key that may sign: restore it from a backup, or delete it to start over (every credential issued so far will be refused)`);
    return newest;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  /** Reloads keys.json when another process changed it. */
  private async refresh(): Promise<void> {
    let stamp: string;
    try {
      const s = await stat(this.file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return; // Deleted under us: keep serving with what we have; the next save writes it again.
    }
    if (stamp !== this.fileStamp) await this.load();
  }

  /** Loads keys.json; false when it does not exist. */
  private async load(): Promise<boolean> {
    let text: string;
    try {
      const s = await stat(this.file);
      text = await readFile(this.file, 'utf8');
      this.fileStamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const damaged = (why: string) =>
      new FlockError('store-damaged', `${this.file} is damaged (${why}): restore it from a backup, or delete it to start over with a new key (every credential issued so far will then be refused and participants ask for new ones)`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw damaged('not JSON');
    }
    const parsed = KeyFileSchema.safeParse(json);
    if (!parsed.success) throw damaged(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    for (const r of parsed.data.keys) {
      if ((await kidOf(r.publicJwk)) !== r.kid) throw damaged(`key '${r.kid}' does not match its public key`);
    }
    await this.adopt(parsed.data.keys);
    return true;
  }

  private async save(records: KeyRecord[]): Promise<void> {
    await writeSecretFile(this.file, JSON.stringify({ format: FORMAT, keys: records }, null, 2) + '\n');
    await this.adopt(records);
    const s = await stat(this.file);
    this.fileStamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
  }

  private async adopt(records: KeyRecord[]): Promise<void> {
    const keys = new Map<string, { publicKey: CryptoKeyLike; privateKey?: CryptoKeyLike }>();
    for (const r of records) {
      const publicKey = await importJWK(r.publicJwk, CREDENTIAL_ALG);
      const privateKey = r.privateJwk && r.retiredAt === undefined ? await importJWK(r.privateJwk, CREDENTIAL_ALG) : undefined;
      keys.set(r.kid, { publicKey, ...(privateKey ? { privateKey } : {}) });
    }
    this.records = records;
    this.keys.clear();
    for (const [k, v] of keys) this.keys.set(k, v);
  }
}

function verifyFailure(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the credential has expired';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the credential\'s signature does not verify';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `the credential is not signed with ${CREDENTIAL_ALG}`;
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the credential's '${err.claim}' claim is wrong (${err.reason})`;
  if (err instanceof joseErrors.JOSEError) return `the credential is invalid (${err.code})`;
  return 'the credential is invalid';
}
