import type { LocalTrainer } from '../train/mf-kernel-local-training.ts';

/**
 * Why a participant does not take part in rounds right now (null in ParticipantState
 * when it does):
 * - 'not-enough-data': fewer interactions than the model needs (minInteractionsFor);
 * - 'not-now': the shell's "may train now" predicate said no (the page is hidden and the
 *   device is not idle);
 * - 'upload-budget': the next update would take the last hour's uploads over the budget;
 *   the participant reports itself eligible again once enough of the hour has passed;
 * - 'up-to-date': nothing new to learn from — no interaction and no global version since
 *   its last accepted update (shared/participant/training-need.ts).
 */
export type TrainingHold = 'not-enough-data' | 'not-now' | 'upload-budget' | 'up-to-date';

/** What a participant reports to its shell (web app status panel, fleet progress). */
export type ParticipantEvent =
  | { type: 'connected' }
  | { type: 'disconnected'; reason: string }
  | { type: 'model'; version: number }
  | { type: 'round-start'; round: number; version: number }
  /** `trainer`: the code that trained the round (TensorFlow.js or one of the MF kernels, mf-kernel-local-training.ts). */
  | { type: 'trained'; round: number; loss: number; numExamples: number; preClipNorm: number; clipped: boolean; trainer: LocalTrainer }
  | { type: 'sent'; round: number; bytes: number }
  | { type: 'queued'; round: number }
  | { type: 'ack'; round: number }
  | { type: 'rejected'; round: number | null; code: string; message: string }
  /** A round this participant was selected for, not trained or not sent, and why (the coordinator was told). */
  | { type: 'declined'; round: number; reason: TrainingHold }
  /** The participant told the coordinator its standing; `hold` is also in the state (trainingHold). */
  | { type: 'standing'; eligible: boolean; hasNewData: boolean; hold: TrainingHold | null }
  /** The upload budget or its use changed (state.uploadBudgetBytesPerHour, state.uploadedLastHourBytes). */
  | { type: 'budget'; bytesPerHour: number; usedLastHour: number }
  | { type: 'error'; message: string }
  /** Another connection with this participant's identity took over; this one was closed by the coordinator. */
  | { type: 'replaced'; message: string };

/**
 * A participant's state for its shell to show (the web app polls it and re-renders on
 * every ParticipantEvent).
 *
 * roundsJoined, bytesSent and updatesSent are this DEVICE's totals for the model,
 * cumulative across reloads and tabs: they are kept in the ParticipantStore (IndexedDB in
 * the browser) and loaded when the participant starts (Participant.start() resolves once
 * they are). Show them as they are — adding counts carried over from another tab counts
 * twice. They read 0 until loaded.
 */
export interface ParticipantState {
  connected: boolean;
  version: number | null;
  roundsJoined: number;
  lastLoss: number | null;
  bytesSent: number;
  updatesSent: number;
  lastRejection: string | null;
  /**
   * The person's upload budget in bytes per rolling hour, for ALL models of this device
   * together (one value in the store, shared by the device's participants). Change it
   * with Participant.setUploadBudget(bytesPerHour) (whole bytes, 0 … 1e9; 0 = never
   * upload); every participant of the device applies it from its next round on.
   * Default DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR (shared/participant/upload-budget.ts).
   */
  uploadBudgetBytesPerHour: number;
  /** Bytes this device uploaded in the last hour, all models together, as of the last check (each round, each standing report, each upload). */
  uploadedLastHourBytes: number;
  /** Why this participant does not take part in rounds now; null when it does (see TrainingHold). */
  trainingHold: TrainingHold | null;
  /** The code that trained the last round here ('tfjs' or an MF kernel); null before the first. */
  localTrainer: LocalTrainer | null;
}
