import type { BackendChoice } from '../backend/select-backend.ts';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import type { ParticipantState } from '../../shared/participant/participant.ts';
import type { LocalTrainer } from '../../shared/train/mf-kernel-local-training.ts';
import { byTestId, el } from './dom.ts';
import { formatBytes } from './format-bytes.ts';
import { MODEL_SHORT_NAMES } from './model-labels.ts';
import type { ModelStatus } from './model-status.ts';
import type { ElectionMechanism, TabRole } from './tab-election.ts';

/** One figure of the status; a `wide` one spans the whole row (text that must not wrap as its value changes). */
function row(label: string, testId: string, wide = false): HTMLElement {
  return el('div', { class: wide ? 'stat wide' : 'stat' }, el('dt', {}, label), el('dd', { 'data-testid': testId }, '-'));
}

const ELECTION_NOTES: Readonly<Record<ElectionMechanism, string>> = {
  'web-locks': '',
  'broadcast-channel': 'This browser has no Web Locks: its tabs agree on the one that trains over a BroadcastChannel instead.',
  none: 'This browser can neither lock nor message between tabs: every open tab trains on its own, and two tabs of it may disconnect each other.',
};

/** The code that trained a model's last round, in words (shared/train/mf-kernel-local-training.ts). */
const TRAINER_NAMES: Readonly<Record<LocalTrainer, string>> = {
  tfjs: 'TensorFlow.js',
  'mf-wasm-simd': 'WebAssembly SIMD kernel',
  'mf-js': 'JavaScript kernel',
  'mf-tower-js': 'JS kernel, item features',
};

const KB = 1024;
/** Choices of the per-hour upload budget (bytes); the person's current value is added when it is none of these. */
const BUDGET_CHOICES: readonly number[] = [0, 256 * KB, 1024 * KB, 4096 * KB, 16384 * KB];

/**
 * What this device runs on, where each model's training stands, what has left the
 * device (cumulative) and the person's upload budget. A follower tab shows the trainer
 * tab's figures (client/app/state-mirror.ts).
 */
export class StatusPanel {
  private readonly statement: HTMLElement;
  private readonly roleNote: HTMLElement;
  private readonly electionNote: HTMLElement;
  private readonly replacedNote: HTMLElement;
  private readonly replacedText: HTMLElement;
  private readonly budgetUsed: HTMLElement;
  private role: TabRole = 'trainer';
  readonly optOut: HTMLButtonElement;
  /** Shown when a model stood down because the same identity connected elsewhere: train here again. */
  readonly trainHere: HTMLButtonElement;
  /** The per-hour upload budget (bytes; change events carry the new value in .value). */
  readonly budget: HTMLSelectElement;

  constructor(private readonly root: HTMLElement, backend: BackendChoice, private readonly models: readonly ModelKind[]) {
    this.statement = el('p', { class: 'privacy', 'data-testid': 'privacy-statement' });
    this.optOut = el('button', { type: 'button', 'data-testid': 'opt-out', class: 'secondary' }, 'Opt out');
    this.roleNote = el('p', { class: 'tab-role', 'data-testid': 'tab-role', hidden: '' });
    this.electionNote = el('p', { class: 'muted small', 'data-testid': 'tab-election', hidden: '' });
    this.replacedText = el('span', { 'data-testid': 'replaced-text' });
    this.trainHere = el('button', { type: 'button', 'data-testid': 'train-here', class: 'secondary' }, 'Train here instead');
    this.replacedNote = el('div', { class: 'notice', 'data-testid': 'replaced', role: 'status', hidden: '' }, this.replacedText, ' ', this.trainHere);
    this.budget = el('select', { 'data-testid': 'upload-budget', id: 'upload-budget', disabled: '' });
    this.budgetUsed = el('span', { class: 'muted small', 'data-testid': 'upload-used' });
    const perModel = models.map((kind) =>
      el(
        'div',
        { class: 'model-status', 'data-testid': `model-status-${kind}`, 'data-model': kind },
        el('div', { class: 'group' }, MODEL_SHORT_NAMES[kind], ' ', el('span', { class: 'state-badge', 'data-testid': `model-state-${kind}` }, '…')),
        el('p', { class: 'small state-text', 'data-testid': `model-state-text-${kind}` }, ''),
        el(
          'dl',
          { class: 'stats' },
          row('Version', `model-version-${kind}`),
          row('Rounds joined', `rounds-joined-${kind}`),
          row('Sent', `bytes-sent-${kind}`),
          row('Last local loss', `last-loss-${kind}`),
          row('Trained with', `model-trainer-${kind}`, true),
        ),
      ),
    );
    root.replaceChildren(
      this.roleNote,
      this.replacedNote,
      ...perModel,
      el('dl', { class: 'stats device' }, row('Backend', 'backend'), row('Connection', 'connection')),
      el('p', { class: 'muted small', 'data-testid': 'backend-reason' }, backend.reason),
      this.statement,
      el('div', { class: 'budget' }, el('label', { for: 'upload-budget' }, 'Upload at most'), this.budget, this.budgetUsed),
      el('div', { class: 'opt' }, this.optOut, el('span', { class: 'muted small', 'data-testid': 'participation' })),
      this.electionNote,
    );
    this.set('backend', backend.name);
    this.set('connection', 'disconnected');
  }

  update(states: ReadonlyMap<ModelKind, ParticipantState>, participating: boolean, statuses: ReadonlyMap<ModelKind, ModelStatus> = new Map()): void {
    const all = [...states.values()];
    const connected = all.filter((s) => s.connected).length;
    this.set('connection', connected === 0 ? 'disconnected' : connected === all.length ? 'connected' : `connected (${connected} of ${all.length} models)`);
    for (const kind of this.models) {
      const status = statuses.get(kind);
      if (status) {
        const badge = byTestId(this.root, `model-state-${kind}`);
        badge.dataset.state = status.state;
        this.set(`model-state-${kind}`, status.state.replace(/-/g, ' '));
        this.set(`model-state-text-${kind}`, status.text);
      }
      const s = states.get(kind);
      if (!s) continue;
      this.set(`model-version-${kind}`, s.version === null ? '-' : String(s.version));
      this.set(`rounds-joined-${kind}`, String(s.roundsJoined));
      this.set(`last-loss-${kind}`, s.lastLoss === null ? '-' : s.lastLoss.toFixed(4));
      this.set(`model-trainer-${kind}`, s.localTrainer === null ? '-' : TRAINER_NAMES[s.localTrainer]);
      byTestId(this.root, `model-trainer-${kind}`).dataset.trainer = s.localTrainer ?? '';
      this.set(`bytes-sent-${kind}`, formatBytes(s.bytesSent));
      byTestId(this.root, `bytes-sent-${kind}`).dataset.bytes = String(s.bytesSent);
    }
    const updates = all.reduce((n, s) => n + s.updatesSent, 0);
    const bytes = all.reduce((n, s) => n + s.bytesSent, 0);
    this.statement.dataset.bytes = String(bytes);
    this.statement.textContent =
      `Only clipped changes to the shared model${this.models.length > 1 ? 's' : ''} (${updates} update${updates === 1 ? '' : 's'}, ${formatBytes(bytes)} in all) left this device. ` +
      'Your likes, ratings, their order and your own taste vector stay in this browser.';
    this.showBudget(all[0]);
    this.optOut.textContent = participating ? 'Opt out' : 'Opt in';
    this.optOut.setAttribute('aria-pressed', participating ? 'false' : 'true');
    const where = this.role === 'follower' ? ' (in another tab of this browser)' : '';
    const ended = statuses.size > 0 && [...statuses.values()].every((s) => s.state === 'privacy-spent');
    this.set(
      'participation',
      ended
        ? 'Training has ended for good: the privacy budget is spent. Nothing more is sent.'
        : participating
          ? `Taking part in training${where}.`
          : 'Opted out: nothing is sent; recommendations use the last models on this device.',
    );
  }

  /** The backend the trainer tab runs on (a follower shows the trainer's). */
  setBackend(name: string, reason: string): void {
    this.set('backend', name);
    this.set('backend-reason', reason);
  }

  /** Whether this tab trains for the browser or shows what another tab trains, and how the tabs agreed. */
  setRole(role: TabRole, mechanism: ElectionMechanism): void {
    this.role = role;
    this.roleNote.hidden = role === 'trainer' && mechanism === 'web-locks';
    this.roleNote.dataset.role = role;
    this.roleNote.textContent =
      role === 'follower'
        ? 'Training runs in another tab of this browser. This tab shows its progress; your likes here count there too.'
        : 'This tab trains for this browser.';
    const note = ELECTION_NOTES[mechanism];
    this.electionNote.hidden = note === '';
    this.electionNote.textContent = note;
  }

  /** Models that stood down because another session with this browser's identity connected (e.g. a copied profile). */
  setReplaced(replaced: ReadonlyMap<ModelKind, string>): void {
    this.replacedNote.hidden = replaced.size === 0;
    if (replaced.size === 0) return;
    const names = [...replaced.keys()].map((k) => MODEL_SHORT_NAMES[k].toLowerCase()).join(' and ');
    this.replacedText.textContent =
      `Another session with this browser's identity connected (for example a copy of this browser profile), so the ${names} ` +
      `stopped training here instead of fighting it. Nothing is sent for ${replaced.size === 1 ? 'it' : 'them'} until you choose to train here.`;
  }

  /** The device's per-hour upload budget (one for all models) and what the last hour used of it. */
  private showBudget(s: ParticipantState | undefined): void {
    const budget = s?.uploadBudgetBytesPerHour;
    if (budget === undefined || !Number.isFinite(budget)) return;
    const choices = BUDGET_CHOICES.includes(budget) ? BUDGET_CHOICES : [...BUDGET_CHOICES, budget].sort((a, b) => a - b);
    if (this.budget.options.length !== choices.length) {
      this.budget.replaceChildren(...choices.map((b) => el('option', { value: String(b) }, b === 0 ? 'nothing (pause uploads)' : `${formatBytes(b)} per hour`)));
    }
    // Never overwrite the menu while the person is choosing in it.
    if (document.activeElement !== this.budget) this.budget.value = String(budget);
    this.budget.disabled = false;
    this.budget.dataset.bytesPerHour = String(budget);
    this.set('upload-used', `${formatBytes(s?.uploadedLastHourBytes ?? 0)} used in the last hour`);
  }

  private set(testId: string, text: string): void {
    const node = byTestId(this.root, testId);
    if (node.textContent !== text) node.textContent = text;
  }
}
