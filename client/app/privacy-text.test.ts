import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelPrivacy } from '../../shared/protocol/messages.ts';
import {
  describePrivacy,
  EXHAUSTED_NOTE,
  formatDelta,
  formatEpsilon,
  formatPlain,
  formatSignificant,
  parsePrivacyAnswer,
  sentenceText,
  type Segment,
} from './privacy-text.ts';

const privacy: ModelPrivacy = {
  mechanism: 'dp-fedavg',
  epsilon: 1.2345678,
  delta: 1e-5,
  epsilonBudget: 4,
  rounds: 12,
  roundBudget: 50,
  noiseMultiplier: 1.1,
  samplingRate: 1 / 3,
  population: 3,
  clipNorm: 0.5,
  adaptiveClipping: false,
  exhausted: false,
  version: 12,
};

test('δ in scientific notation with one decimal and superscript exponent', () => {
  assert.equal(formatDelta(1e-5), '1.0 × 10⁻⁵');
  assert.equal(formatDelta(3 ** -1.1), '3.0 × 10⁻¹');
  assert.equal(formatDelta(1 / 3000), '3.3 × 10⁻⁴');
  assert.equal(formatDelta(2.5e-12), '2.5 × 10⁻¹²');
  assert.equal(formatDelta(9.96e-7), '1.0 × 10⁻⁶', 'rounding up carries into the exponent');
  assert.equal(formatDelta(0.5), '5.0 × 10⁻¹');
});

test('ε with 2 decimals; a positive ε too small for that is "< 0.01", never "0.00"', () => {
  assert.equal(formatEpsilon(1.2345), '1.23');
  assert.equal(formatEpsilon(1.235001), '1.24');
  assert.equal(formatEpsilon(0), '0.00');
  assert.equal(formatEpsilon(0.004), '< 0.01');
  assert.equal(formatEpsilon(0.005), '0.01');
  assert.equal(formatEpsilon(123.456), '123.46');
});

test('plain and significant figures drop trailing zeros', () => {
  assert.equal(formatPlain(4), '4');
  assert.equal(formatPlain(4.5), '4.5');
  assert.equal(formatPlain(1.2345), '1.23');
  assert.equal(formatSignificant(1 / 3), '0.333');
  assert.equal(formatSignificant(1), '1');
  assert.equal(formatSignificant(12.345), '12.3');
});

test('DP on: the guarantee in one sentence, ε rounded in the text and exact in its segment', () => {
  const d = describePrivacy({ status: 'ok', privacy }, 'embedding model');
  assert.equal(d.state, 'dp');
  assert.equal(
    sentenceText(d.sentence),
    'The embedding model trained with your data is (ε, δ)-differentially private with ε = 1.23 and δ = 1.0 × 10⁻⁵ after 12 rounds (budget ε = 4).',
  );
  const eps = d.sentence.find((s): s is Exclude<Segment, string> => typeof s !== 'string');
  assert.deepEqual(eps, { epsilon: 1.2345678, text: '1.23' });
  assert.equal(d.exhaustedNote, null);
  assert.equal(
    d.details,
    'Noise multiplier 1.1; each participant is in a round with probability 0.333; updates clipped to norm 0.5; at most 50 rounds, planned for 3 participants.',
  );
});

test('DP on: one round is singular; adaptive clipping is said', () => {
  const d = describePrivacy({ status: 'ok', privacy: { ...privacy, rounds: 1, adaptiveClipping: true } }, 'sequence model');
  assert.match(sentenceText(d.sentence), /^The sequence model trained with your data is .* after 1 round \(budget ε = 4\)\.$/);
  assert.match(d.details ?? '', /clipped to norm 0\.5 \(adaptive\)/);
});

test('DP on before any round: ε = 0 and nothing trained with data published yet', () => {
  const d = describePrivacy({ status: 'ok', privacy: { ...privacy, epsilon: 0, rounds: 0, version: 0 } }, 'embedding model');
  assert.equal(d.state, 'dp');
  assert.equal(
    sentenceText(d.sentence),
    "The embedding model is (ε, δ)-differentially private with ε = 0.00 and δ = 1.0 × 10⁻⁵: no round trained with anyone's data has been published yet (budget ε = 4).",
  );
});

test('budget spent: the final guarantee, and that training stopped', () => {
  const d = describePrivacy({ status: 'ok', privacy: { ...privacy, epsilon: 3.9999, rounds: 50, exhausted: true } }, 'embedding model');
  assert.equal(d.state, 'exhausted');
  assert.equal(d.exhaustedNote, 'Privacy budget spent: training has stopped; recommendations use the last model.');
  assert.equal(d.exhaustedNote, EXHAUSTED_NOTE);
  assert.match(sentenceText(d.sentence), /ε = 4\.00 and δ = 1\.0 × 10⁻⁵ after 50 rounds \(budget ε = 4\)\.$/);
});

test('DP off: says plainly that no guarantee applies, only clipping; no ε anywhere', () => {
  const d = describePrivacy({ status: 'ok', privacy: null }, 'embedding model');
  assert.equal(d.state, 'off');
  const text = sentenceText(d.sentence);
  assert.match(text, /^No differential-privacy guarantee applies to the embedding model: updates are only clipped/);
  assert.ok(!text.includes('ε'));
  assert.ok(d.sentence.every((s) => typeof s === 'string'));
  assert.equal(d.details, null);
  assert.equal(d.exhaustedNote, null);
});

test('error and loading show no number', () => {
  const e = describePrivacy({ status: 'error', message: 'the coordinator answered HTTP 503.' }, 'embedding model');
  assert.equal(e.state, 'error');
  assert.equal(sentenceText(e.sentence), 'The privacy guarantee of the embedding model is unknown right now: the coordinator answered HTTP 503. It is checked again shortly.');
  assert.ok(e.sentence.every((s) => typeof s === 'string') && !/\d\.\d/.test(sentenceText(e.sentence)));
  const l = describePrivacy({ status: 'loading' }, 'sequence model');
  assert.equal(l.state, 'loading');
  assert.equal(sentenceText(l.sentence), 'Checking the privacy guarantee of the sequence model…');
});

const info = (p: unknown, kind = 'mf') => ({
  protocolVersion: 1,
  version: 12,
  model: { kind, numItems: 10, dim: 4 },
  params: [],
  round: { localEpochs: 1, batchSize: 32, learningRate: 0.05, negatives: 4, l2: 0, clipNorm: 0.5, seed: 0 },
  privacy: p,
});

test('parsePrivacyAnswer: the privacy block of a valid answer; refuses what the schema or common sense refuses', () => {
  assert.throws(() => parsePrivacyAnswer({ nope: true }, 'mf'), /malformed/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, epsilon: -1 }), 'mf'), /malformed \(privacy\.epsilon/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, mechanism: 'other' }), 'mf'), /malformed/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, delta: 0 }), 'mf'), /malformed/);
  assert.throws(() => parsePrivacyAnswer(info(undefined), 'mf'), /malformed/, 'privacy must be present (null when off)');
  assert.deepEqual(parsePrivacyAnswer(info(privacy), 'mf'), privacy);
  assert.equal(parsePrivacyAnswer(info(null), 'mf'), null);
  assert.throws(() => parsePrivacyAnswer(info(privacy), 'sasrec'), /asked about the sasrec model/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, epsilon: 4.5 }), 'mf'), /above its budget/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, rounds: 51 }), 'mf'), /above its budget of 50/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, rounds: 0 }), 'mf'), /after 0 rounds/);
  assert.throws(() => parsePrivacyAnswer(info({ ...privacy, epsilon: 0 }), 'mf'), /ε = 0 after 12 rounds/);
});
