import type { BackendChoice } from '../backend/select-backend.ts';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import type { ParticipantState } from '../../shared/participant/participant.ts';
import { byTestId, el } from './dom.ts';
import { MODEL_SHORT_NAMES } from './model-labels.ts';

function row(label: string, testId: string): HTMLElement {
  return el('div', { class: 'stat' }, el('dt', {}, label), el('dd', { 'data-testid': testId }, '-'));
}

/** What this device runs on, where each model's training stands, and what has left the device. */
export class StatusPanel {
  private readonly statement: HTMLElement;
  readonly optOut: HTMLButtonElement;

  constructor(private readonly root: HTMLElement, backend: BackendChoice, private readonly models: readonly ModelKind[]) {
    this.statement = el('p', { class: 'privacy', 'data-testid': 'privacy-statement' });
    this.optOut = el('button', { type: 'button', 'data-testid': 'opt-out', class: 'secondary' }, 'Opt out');
    const perModel = models.flatMap((kind) => [
      el('div', { class: 'group' }, MODEL_SHORT_NAMES[kind]),
      row('Version', `model-version-${kind}`),
      row('Rounds joined', `rounds-joined-${kind}`),
      row('Last local loss', `last-loss-${kind}`),
      row('Bytes sent', `bytes-sent-${kind}`),
    ]);
    root.replaceChildren(
      el('dl', { class: 'stats' }, row('Backend', 'backend'), row('Connection', 'connection'), ...perModel),
      el('p', { class: 'muted small', 'data-testid': 'backend-reason' }, backend.reason),
      this.statement,
      el('div', { class: 'opt' }, this.optOut, el('span', { class: 'muted small', 'data-testid': 'participation' })),
    );
    this.set('backend', backend.name);
    this.set('connection', 'disconnected');
  }

  update(states: ReadonlyMap<ModelKind, ParticipantState>, participating: boolean): void {
    const all = [...states.values()];
    const connected = all.filter((s) => s.connected).length;
    this.set('connection', connected === 0 ? 'disconnected' : connected === all.length ? 'connected' : `connected (${connected} of ${all.length} models)`);
    for (const kind of this.models) {
      const s = states.get(kind);
      if (!s) continue;
      this.set(`model-version-${kind}`, s.version === null ? '-' : String(s.version));
      this.set(`rounds-joined-${kind}`, String(s.roundsJoined));
      this.set(`last-loss-${kind}`, s.lastLoss === null ? '-' : s.lastLoss.toFixed(4));
      this.set(`bytes-sent-${kind}`, String(s.bytesSent));
    }
    const updates = all.reduce((n, s) => n + s.updatesSent, 0);
    const kb = (all.reduce((n, s) => n + s.bytesSent, 0) / 1024).toFixed(1);
    this.statement.textContent =
      `Only clipped changes to the shared model${this.models.length > 1 ? 's' : ''} (${updates} update${updates === 1 ? '' : 's'}, ${kb} KB) left this device. ` +
      'Your likes, ratings, their order and your own taste vector stay in this browser.';
    this.optOut.textContent = participating ? 'Opt out' : 'Opt in';
    this.optOut.setAttribute('aria-pressed', participating ? 'false' : 'true');
    this.set(
      'participation',
      participating ? 'Taking part in training.' : 'Opted out: nothing is sent; recommendations use the last models on this device.',
    );
  }

  private set(testId: string, text: string): void {
    const node = byTestId(this.root, testId);
    if (node.textContent !== text) node.textContent = text;
  }
}
