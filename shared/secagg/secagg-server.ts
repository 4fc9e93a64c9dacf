/**
 * The coordinator's side of a secure-aggregation round (Bonawitz et al. 2017, Fig. 4;
 * SecAgg+ neighbourhoods, Bell et al. 2020). It never sees an update: it routes keys
 * and encrypted shares between neighbours, sums masked inputs in the ring as they
 * arrive (O(vectorLength) memory), and at the end reconstructs the dropped
 * participants' pairwise masks and the survivors' self-masks from revealed shares.
 *
 * Each phase: receive…() per message (a bad one is refused with SecAggError and changes
 * nothing), then close…() at the phase's deadline (or when everyone answered), which
 * fixes who is still in and returns what to send to whom. A close…() that finds too few
 * left throws SecAggError('too-many-dropped'): the round is abandoned, nothing learned.
 */
import type { SecAggParams } from './secagg-params.ts';
import type { EncryptedShares, KeyAdvertisement, MaskedInput, NeighbourKeys, SharesForMe, UnmaskRequest, UnmaskResponse } from './secagg-messages.ts';

export type SecAggServerPhase = 'keys' | 'shares' | 'masked-inputs' | 'unmasking' | 'done';

export interface SecAggSum {
  /** The exact decoded sum of the survivors' fixed-point encodings. */
  readonly sum: Float64Array;
  /** Number of updates in the sum (the survivors of round 2). */
  readonly summands: number;
  /** Their ids, sorted. */
  readonly contributors: readonly string[];
}

export class SecAggServer {
  constructor(readonly params: SecAggParams) {
    throw new Error('not implemented yet');
  }

  get phase(): SecAggServerPhase {
    throw new Error('not implemented yet');
  }

  receiveKeys(message: KeyAdvertisement): void {
    void message;
    throw new Error('not implemented yet');
  }

  /** Ends round 0; returns, per participant that advertised, the advertisements of its neighbours. */
  closeKeys(): Map<string, NeighbourKeys> {
    throw new Error('not implemented yet');
  }

  receiveShares(message: EncryptedShares): void {
    void message;
    throw new Error('not implemented yet');
  }

  /** Ends round 1; returns, per participant that sent shares, the ciphertexts addressed to it. */
  closeShares(): Map<string, SharesForMe> {
    throw new Error('not implemented yet');
  }

  receiveMaskedInput(message: MaskedInput): void {
    void message;
    throw new Error('not implemented yet');
  }

  /** Ends round 2; returns the one request every survivor gets (`survivors` are its recipients). */
  closeMaskedInputs(): UnmaskRequest {
    throw new Error('not implemented yet');
  }

  receiveUnmaskResponse(message: UnmaskResponse): void {
    void message;
    throw new Error('not implemented yet');
  }

  /** Ends round 3: reconstructs and removes the masks, returns the decoded sum. */
  finish(): SecAggSum {
    throw new Error('not implemented yet');
  }
}
