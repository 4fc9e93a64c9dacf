/**
 * One participant's side of a secure-aggregation round (Bonawitz et al. 2017, Fig. 4,
 * rounds 0–3, semi-honest variant without the signature round; SecAgg+ neighbourhoods,
 * Bell et al. 2020). Message-driven: each method takes what the server forwarded and
 * returns what to send back, so the browser, the Node fleet and the in-process runner
 * drive it the same way. Steps must be called in order, once each; a refused step
 * (SecAggError) changes nothing.
 */
import type { UniformSource } from '../random/secure-random.ts';
import type { SecAggParams } from './secagg-params.ts';
import type { EncryptedShares, KeyAdvertisement, MaskedInput, NeighbourKeys, SharesForMe, UnmaskRequest, UnmaskResponse } from './secagg-messages.ts';

export interface SecAggClientOptions {
  /** Randomness for stochastic rounding (default: the platform CSPRNG). */
  readonly rounding?: UniformSource;
  /** Random bytes for keys and the self-mask seed (default: crypto.getRandomValues). Tests only. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

export class SecAggClient {
  constructor(readonly params: SecAggParams, readonly id: string, options: SecAggClientOptions = {}) {
    void options;
    throw new Error('not implemented yet');
  }

  /** Round 0: fresh c and s key pairs; returns the public halves. */
  advertiseKeys(): KeyAdvertisement {
    throw new Error('not implemented yet');
  }

  /** Round 1: Shamir-shares my s secret key and a fresh self-mask seed t-of-k among the neighbours that advertised, encrypted to each. */
  shareKeys(neighbourKeys: NeighbourKeys): EncryptedShares {
    void neighbourKeys;
    throw new Error('not implemented yet');
  }

  /** Round 2: checks and keeps the shares addressed to me, encodes `update` (every coordinate in [−C, C]) in the ring and masks it. */
  maskedInput(sharesForMe: SharesForMe, update: Float32Array): MaskedInput {
    void sharesForMe;
    void update;
    throw new Error('not implemented yet');
  }

  /** Round 3: after the consistency checks, reveals self-mask shares of surviving neighbours and key shares of dropped ones. */
  unmask(request: UnmaskRequest): UnmaskResponse {
    void request;
    throw new Error('not implemented yet');
  }
}
