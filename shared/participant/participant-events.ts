/** What a participant reports to its shell (web app status panel, fleet progress). */
export type ParticipantEvent =
  | { type: 'connected' }
  | { type: 'disconnected'; reason: string }
  | { type: 'model'; version: number }
  | { type: 'round-start'; round: number; version: number }
  | { type: 'trained'; round: number; loss: number; numExamples: number; preClipNorm: number; clipped: boolean }
  | { type: 'sent'; round: number; bytes: number }
  | { type: 'queued'; round: number }
  | { type: 'ack'; round: number }
  | { type: 'rejected'; round: number | null; code: string; message: string }
  | { type: 'error'; message: string }
  /** Another connection with this participant's identity took over; this one was closed by the coordinator. */
  | { type: 'replaced'; message: string };

export interface ParticipantState {
  connected: boolean;
  version: number | null;
  roundsJoined: number;
  lastLoss: number | null;
  bytesSent: number;
  updatesSent: number;
  lastRejection: string | null;
}
