/**
 * The membership attack's outputs: table.md (markdown), table.csv and results.json under
 * the --out folder. Small files (one row per setting × score), fit to commit.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MembershipAttackResult, MembershipRow } from './membership-attack.ts';

const f = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(4));
const fse = (m: { mean: number; se: number }) => `${f(m.mean)} ± ${Number.isNaN(m.se) ? '–' : m.se.toFixed(4)}`;

const settingName = (r: MembershipRow) =>
  r.setting === 'prior'
    ? 'prior only (no update read)'
    : r.setting === 'plain'
      ? 'plain updates'
      : r.setting === 'secure-aggregation'
        ? `secure aggregation, n = ${r.cohort}`
        : r.setting === 'dp-no-secagg'
          ? `DP ε = ${r.epsilon}, coordinator without secure aggregation`
          : `DP ε = ${r.epsilon}, released noised mean, n = ${r.cohort} (z = ${r.noiseMultiplier?.toFixed(3)})`;

export function membershipMarkdown(res: MembershipAttackResult, command: string): string {
  const lines = [
    `# Membership attack: the curious coordinator, round ${res.round} of the in-process simulation`,
    '',
    '```sh',
    command,
    '```',
    '',
    `${res.people} people in the attacked round, ${res.numItems} items; per person ${res.meanMembers.toFixed(1)} training items (members) and ${res.meanTouchedNonMembers.toFixed(1)} sampled negatives on average.`,
    `Model (test HR@10 / NDCG@10, 100 sampled negatives): initial ${f(res.model.initial.hr10)} / ${f(res.model.initial.ndcg10)}, after the attacked round ${f(res.model.afterAttackedRound.hr10)} / ${f(res.model.afterAttackedRound.ndcg10)}.`,
    `Secure-aggregation sums: ${res.secureSum}.`,
    '',
    'AUC (Mann–Whitney, ties ½) of the members against: every non-interacted item (**headline**), the non-interacted items the update did not touch, and every non-interacted item counting only pairs in the same popularity bin (stratified). Mean over people ± standard error. **bold** = the setting\'s strongest score.',
    '',
    '| setting | score | AUC vs non-interacted | AUC vs untouched | AUC stratified by popularity |',
    '|---|---|---|---|---|',
  ];
  for (const r of res.rows) {
    const b = (s: string) => (r.best && r.setting !== 'prior' ? `**${s}**` : s);
    lines.push(`| ${settingName(r)} | ${b(r.score)} | ${b(fse(r.aucNonInteracted))} | ${fse(r.aucUntouched)} | ${fse(r.aucStratified)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

export function membershipCsv(res: MembershipAttackResult): string {
  const head = 'setting,cohort,epsilon,noise_multiplier,score,best,people,auc_non_interacted,se_non_interacted,auc_untouched,se_untouched,auc_stratified,se_stratified';
  const n = (x: number | null) => (x === null ? '' : String(x));
  const rows = res.rows.map((r) =>
    [r.setting, n(r.cohort), n(r.epsilon), n(r.noiseMultiplier), r.score, r.best ? 1 : 0, r.people, r.aucNonInteracted.mean, r.aucNonInteracted.se, r.aucUntouched.mean, r.aucUntouched.se, r.aucStratified.mean, r.aucStratified.se].join(','),
  );
  return [head, ...rows, ''].join('\n');
}

/** Writes table.md, table.csv and results.json into `dir`; returns their paths. */
export async function writeMembershipOutputs(dir: string, res: MembershipAttackResult, command: string, config: unknown): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['table.md', membershipMarkdown(res, command)],
    ['table.csv', membershipCsv(res)],
    ['results.json', `${JSON.stringify({ format: 'flock-membership-attack', formatVersion: 1, createdAt: new Date().toISOString(), command, config, result: res })}\n`],
  ];
  const out: string[] = [];
  for (const [name, text] of files) {
    const file = path.join(dir, name);
    await writeFile(file, text);
    out.push(file);
  }
  return out;
}
