/** One implicit-feedback event: user (dense 0-based id) touched item (dense id). */
export interface Interaction {
  readonly user: number;
  readonly item: number;
  /** Explicit rating when the source has one (MovieLens 1–5), else 1. */
  readonly rating: number;
  /** Seconds since epoch (MovieLens) or a synthetic increasing clock. */
  readonly timestamp: number;
}

/** A whole data set with dense ids: users 0..numUsers-1, items 0..numItems-1. */
export interface Dataset {
  readonly name: string;
  readonly numUsers: number;
  readonly numItems: number;
  readonly interactions: readonly Interaction[];
  /** titles[item] */
  readonly titles: readonly string[];
  /** itemFeatures[item]: feature names (genres, tags, title words) for the MF feature tower; absent: none known. */
  readonly itemFeatures?: readonly (readonly string[])[];
}

/** Per-user leave-one-out split (see leave-one-out.ts). */
export interface UserSplit {
  /** Training items of each user, in time order. */
  readonly train: readonly Int32Array[];
  /** Validation item per user (the second to last by time), -1 when the user has too few. */
  readonly validation: Int32Array;
  /** Test item per user (the last by time), -1 when the user has too few. */
  readonly test: Int32Array;
}
