/**
 * The privacy guarantee of a served model in plain words: pure functions from the
 * coordinator's `privacy` block (GET /api/models/:kind, ModelPrivacySchema) to what the
 * privacy panel shows (client/app/privacy-panel.ts). No DOM here: unit-tested under node.
 *
 * What is shown per model, and when:
 * - loading: nothing known yet;
 * - off: the coordinator adds no noise (privacy is null): no (ε, δ) guarantee applies,
 *   only clipping;
 * - dp: (ε, δ) spent so far over the released rounds, with the budget;
 * - exhausted: the same, and that training stopped for good;
 * - error: the answer could not be fetched or failed validation. No number is shown then:
 *   better none than a wrong one.
 */
import { z } from 'zod';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import { ModelInfoResponseSchema, ModelPrivacySchema, type ModelPrivacy } from '../../shared/protocol/messages.ts';

/** One model's privacy as the panel knows it; mirrored to follower tabs (state-mirror.ts). */
export const PrivacyStateSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('loading') }),
  z.object({ status: z.literal('ok'), privacy: ModelPrivacySchema.nullable() }),
  z.object({ status: z.literal('error'), message: z.string() }),
]);
export type PrivacyState = z.infer<typeof PrivacyStateSchema>;

export const PRIVACY_LOADING: PrivacyState = { status: 'loading' };

const SUPERSCRIPT: Readonly<Record<string, string>> = {
  '-': '⁻', '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹',
};

/** ε as shown: 2 decimals; a positive ε too small for that reads "< 0.01", never a bare "0.00". */
export function formatEpsilon(epsilon: number): string {
  if (epsilon > 0 && epsilon < 0.005) return '< 0.01';
  return epsilon.toFixed(2);
}

/** δ in scientific notation with one decimal: 1e-5 → "1.0 × 10⁻⁵", 0.000333 → "3.3 × 10⁻⁴". */
export function formatDelta(delta: number): string {
  const [mantissa, exponent] = delta.toExponential(1).split('e');
  const exp = String(Number(exponent));
  return `${mantissa} × 10${[...exp].map((c) => SUPERSCRIPT[c] ?? c).join('')}`;
}

/** A number without trailing zeros, at most `decimals` decimals: 4 → "4", 4.5 → "4.5", 1.2345 → "1.23". */
export function formatPlain(x: number, decimals = 2): string {
  return String(Number(x.toFixed(decimals)));
}

/** Three significant digits, no trailing zeros: 1 → "1", 0.33333 → "0.333", 12.345 → "12.3". */
export function formatSignificant(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/** A piece of a sentence: text, or the ε figure (shown rounded, its exact value kept for a title and tests). */
export type Segment = string | { readonly epsilon: number; readonly text: string };

export interface PrivacyDescription {
  readonly state: 'loading' | 'off' | 'dp' | 'exhausted' | 'error';
  /** The guarantee in one sentence. */
  readonly sentence: readonly Segment[];
  /** Shown beside it when the budget is spent; null otherwise. */
  readonly exhaustedNote: string | null;
  /** The mechanism's settings in a short line; null when DP is off or unknown. */
  readonly details: string | null;
}

export const EXHAUSTED_NOTE = 'Privacy budget spent: training has stopped; recommendations use the last model.';

/** The text of a sentence, with ε as shown. */
export function sentenceText(segments: readonly Segment[]): string {
  return segments.map((s) => (typeof s === 'string' ? s : s.text)).join('');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * One model's guarantee in plain words. `modelName` is how the page names the model in a
 * sentence, e.g. "embedding model" (MODEL_SHORT_NAMES, lower-cased).
 */
export function describePrivacy(state: PrivacyState, modelName: string): PrivacyDescription {
  if (state.status === 'loading') {
    return { state: 'loading', sentence: [`Checking the privacy guarantee of the ${modelName}…`], exhaustedNote: null, details: null };
  }
  if (state.status === 'error') {
    return {
      state: 'error',
      sentence: [`The privacy guarantee of the ${modelName} is unknown right now: ${state.message.replace(/\.$/, '')}. It is checked again shortly.`],
      exhaustedNote: null,
      details: null,
    };
  }
  const p = state.privacy;
  if (p === null) {
    return {
      state: 'off',
      sentence: [
        `No differential-privacy guarantee applies to the ${modelName}: updates are only clipped, which limits how far any one ` +
          'of them can move the model, but no noise is added, so the published model may reveal something about the data it was trained with.',
      ],
      exhaustedNote: null,
      details: null,
    };
  }
  const eps: Segment = { epsilon: p.epsilon, text: formatEpsilon(p.epsilon) };
  const delta = formatDelta(p.delta);
  const budget = `budget ε = ${formatPlain(p.epsilonBudget)}`;
  const sentence: Segment[] =
    p.rounds === 0
      ? [`The ${modelName} is (ε, δ)-differentially private with ε = `, eps, ` and δ = ${delta}: no round trained with anyone's data has been published yet (${budget}).`]
      : [`The ${modelName} trained with your data is (ε, δ)-differentially private with ε = `, eps, ` and δ = ${delta} after ${plural(p.rounds, 'round', 'rounds')} (${budget}).`];
  const details =
    `Noise multiplier ${formatSignificant(p.noiseMultiplier)}; each participant is in a round with probability ${formatSignificant(p.samplingRate)}; ` +
    `updates clipped to norm ${formatSignificant(p.clipNorm)}${p.adaptiveClipping ? ' (adaptive)' : ''}; ` +
    `at most ${plural(p.roundBudget, 'round', 'rounds')}, planned for ${plural(p.population, 'participant', 'participants')}.`;
  return { state: p.exhausted ? 'exhausted' : 'dp', sentence, exhaustedNote: p.exhausted ? EXHAUSTED_NOTE : null, details };
}

/** Relative slack on "spent ε ≤ budget" (the coordinator's accountant allows 1e-9; float noise). */
const BUDGET_SLACK = 1e-6;

/**
 * Parses GET /api/models/:kind and returns the privacy block, or throws with why the
 * answer cannot be trusted: it fails the protocol's schema, is about another model, or
 * states something impossible (more ε or rounds spent than the budget allows, ε and
 * rounds disagreeing about whether anything was released).
 */
export function parsePrivacyAnswer(body: unknown, kind: ModelKind): ModelPrivacy | null {
  const parsed = ModelInfoResponseSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`the coordinator's answer is malformed (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`);
  }
  if (parsed.data.model.kind !== kind) throw new Error(`asked about the ${kind} model, the coordinator answered about ${parsed.data.model.kind}`);
  const p = parsed.data.privacy;
  if (p === null) return null;
  if (p.epsilon > p.epsilonBudget * (1 + BUDGET_SLACK)) throw new Error(`the coordinator reports ε = ${p.epsilon} spent, above its budget ${p.epsilonBudget}`);
  if (p.rounds > p.roundBudget) throw new Error(`the coordinator reports ${p.rounds} rounds spent, above its budget of ${p.roundBudget}`);
  if ((p.rounds === 0) !== (p.epsilon === 0)) throw new Error(`the coordinator reports ε = ${p.epsilon} after ${p.rounds} rounds`);
  return p;
}
