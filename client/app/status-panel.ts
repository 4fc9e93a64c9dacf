import type { BackendChoice } from '../backend/select-backend.ts';
import type { ParticipantState } from '../../shared/participant/participant.ts';
import { byTestId, el } from './dom.ts';

function row(label: string, testId: string): HTMLElement {
  return el('div', { class: 'stat' }, el('dt', {}, label), el('dd', { 'data-testid': testId }, '-'));
}

/** What this device runs on and what has left it. */
export class StatusPanel {
  private readonly statement: HTMLElement;
  readonly optOut: HTMLButtonElement;

  constructor(private readonly root: HTMLElement, backend: BackendChoice) {
    this.statement = el('p', { class: 'privacy', 'data-testid': 'privacy-statement' });
    this.optOut = el('button', { type: 'button', 'data-testid': 'opt-out', class: 'secondary' }, 'Opt out');
    root.replaceChildren(
      el(
        'dl',
        { class: 'stats' },
        row('Backend', 'backend'),
        row('Connection', 'connection'),
        row('Model version', 'model-version'),
        row('Rounds joined', 'rounds-joined'),
        row('Last local loss', 'last-loss'),
        row('Bytes sent', 'bytes-sent'),
      ),
      el('p', { class: 'muted small', 'data-testid': 'backend-reason' }, backend.reason),
      this.statement,
      el('div', { class: 'opt' }, this.optOut, el('span', { class: 'muted small', 'data-testid': 'participation' })),
    );
    this.set('backend', backend.name);
    this.set('connection', 'disconnected');
  }

  update(s: ParticipantState, participating: boolean): void {
    this.set('connection', s.connected ? 'connected' : 'disconnected');
    this.set('model-version', s.version === null ? '-' : String(s.version));
    this.set('rounds-joined', String(s.roundsJoined));
    this.set('last-loss', s.lastLoss === null ? '-' : s.lastLoss.toFixed(4));
    this.set('bytes-sent', String(s.bytesSent));
    const kb = (s.bytesSent / 1024).toFixed(1);
    this.statement.textContent =
      `Only clipped changes to the shared item model (${s.updatesSent} update${s.updatesSent === 1 ? '' : 's'}, ${kb} KB) left this device. ` +
      'Your likes, ratings and your own taste vector stay in this browser.';
    this.optOut.textContent = participating ? 'Opt out' : 'Opt in';
    this.optOut.setAttribute('aria-pressed', participating ? 'false' : 'true');
    this.set(
      'participation',
      participating ? 'Taking part in training.' : 'Opted out: nothing is sent; recommendations use the last model on this device.',
    );
  }

  private set(testId: string, text: string): void {
    const node = byTestId(this.root, testId);
    if (node.textContent !== text) node.textContent = text;
  }
}
