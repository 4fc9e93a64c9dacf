import type { ModelKind } from '../../shared/model/model-registry.ts';
import { el } from './dom.ts';
import { MODEL_SHORT_NAMES } from './model-labels.ts';
import { describePrivacy, PRIVACY_LOADING, type PrivacyState } from './privacy-text.ts';

/**
 * Each served model's privacy guarantee in plain words (privacy-text.ts), one block per
 * model (data-testid "privacy-<kind>"), under the panel's heading and beside the link to
 * the explanation page (client/privacy.html, in index.html).
 *
 * DOM contract (e2e/harness/page-state.ts readPrivacy): the block's data-state is
 * loading | off | dp | exhausted | error; with DP on, data-epsilon holds the exact spent ε
 * (String(number): it parses back to the same double), data-delta, data-rounds and
 * data-version the version that ε covers. The ε figure itself
 * (data-testid "privacy-epsilon") shows 2 decimals, its title the exact value.
 */
export class PrivacyPanel {
  private readonly blocks = new Map<ModelKind, HTMLElement>();
  private readonly shown = new Map<ModelKind, string>();

  constructor(root: HTMLElement, private readonly models: readonly ModelKind[]) {
    for (const kind of models) {
      this.blocks.set(kind, el('div', { class: 'privacy-model', 'data-testid': `privacy-${kind}`, 'data-model': kind }));
    }
    root.replaceChildren(...this.blocks.values());
    for (const kind of models) this.render(kind, PRIVACY_LOADING);
  }

  /** Shows every model's state; a model missing from `states` is still loading. */
  update(states: ReadonlyMap<ModelKind, PrivacyState>): void {
    for (const kind of this.models) this.render(kind, states.get(kind) ?? PRIVACY_LOADING);
  }

  private render(kind: ModelKind, state: PrivacyState): void {
    const key = JSON.stringify(state);
    if (this.shown.get(kind) === key) return;
    this.shown.set(kind, key);
    const block = this.blocks.get(kind)!;
    const d = describePrivacy(state, MODEL_SHORT_NAMES[kind].toLowerCase());
    block.dataset.state = d.state;
    for (const attr of ['epsilon', 'delta', 'rounds', 'version', 'exhausted'] as const) delete block.dataset[attr];
    if (state.status === 'ok' && state.privacy) {
      const p = state.privacy;
      block.dataset.epsilon = String(p.epsilon);
      block.dataset.delta = String(p.delta);
      block.dataset.rounds = String(p.rounds);
      block.dataset.version = String(p.version);
      block.dataset.exhausted = String(p.exhausted);
    }
    const sentence = el('p', { class: 'privacy-sentence', 'data-testid': 'privacy-sentence' });
    sentence.append(
      ...d.sentence.map((s) =>
        typeof s === 'string'
          ? s
          : el('strong', { class: 'epsilon', 'data-testid': 'privacy-epsilon', 'data-epsilon': String(s.epsilon), title: `ε = ${s.epsilon}` }, s.text),
      ),
    );
    const children: HTMLElement[] = [el('div', { class: 'group' }, MODEL_SHORT_NAMES[kind]), sentence];
    if (d.exhaustedNote) children.push(el('p', { class: 'notice', 'data-testid': 'privacy-exhausted', role: 'status' }, d.exhaustedNote));
    if (d.details) children.push(el('p', { class: 'muted small', 'data-testid': 'privacy-details' }, d.details));
    block.classList.toggle('error', d.state === 'error');
    block.replaceChildren(...children);
  }
}
